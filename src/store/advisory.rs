//! PostgreSQL advisory-lock keys, namespaced so another application on the same
//! database cannot take Flotilla's locks by accident.
//!
//! PostgreSQL's advisory locks share one key space per database. Flotilla uses the
//! two-`int4` form: the first key is a class id fixed for Flotilla (FNV-1a of
//! `"flotilla"`), the second says which lock.

/// The class id every Flotilla advisory lock carries: FNV-1a (32 bits) of `"flotilla"`.
pub const FLOTILLA_CLASS: i32 = fnv1a_32(b"flotilla") as i32;

/// The advisory locks Flotilla takes; the value is the lock's second key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum AdvisoryLock {
    /// Held by the transaction that schedules tasks, so processes decide one at a time.
    Schedule = 1,
}

impl AdvisoryLock {
    /// The `(class, object)` keys for `pg_advisory_xact_lock(int4, int4)`.
    pub fn keys(self) -> (i32, i32) {
        (FLOTILLA_CLASS, self as i32)
    }
}

/// FNV-1a, 32 bits: a fixed, dependency-free hash evaluated at compile time.
const fn fnv1a_32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u32;
        hash = hash.wrapping_mul(0x0100_0193);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_class_id_is_fnv1a_of_flotilla_and_stays_fixed() {
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(AdvisoryLock::Schedule.keys(), (FLOTILLA_CLASS, 1));
        assert_ne!(FLOTILLA_CLASS, 0);
    }
}
