//! What an admin of the seeded repository or the App's owner does to it: branch
//! protection, rulesets, the App's permissions.

use flotilla::sim::{Access, Protection, RequiredCheck, Ruleset};
use flotilla::types::AppId;

use super::{TestWorld, WORLD_APP_ID};

/// A required check: `context`, bound to the App `app`.
pub fn required(context: &str, app: AppId) -> RequiredCheck {
    RequiredCheck {
        context: context.to_owned(),
        app_id: Some(app),
    }
}

impl TestWorld {
    /// An admin protects `main`, requiring `context` from the App `app_id`.
    pub fn require_check_on_main(&self, context: &str, app_id: AppId) {
        self.protect_main(Protection {
            required_checks: Some(vec![required(context, app_id)]),
            ..Protection::default()
        });
    }

    /// An admin sets the classic branch protection of `main` to `protection`.
    pub fn protect_main(&self, protection: Protection) {
        self.sim
            .set_protection(&self.repo, "main", Some(protection))
            .expect("protection set");
    }

    /// An admin adds a ruleset on the default branch requiring `flotilla/verify` from
    /// this App: a requirement the App can read (unlike classic protection).
    pub fn require_verify_by_ruleset(&self) {
        self.sim
            .add_ruleset(
                &self.repo,
                Ruleset {
                    name: "Flotilla gate".to_owned(),
                    branches: vec!["~DEFAULT_BRANCH".to_owned()],
                    required_checks: vec![required("flotilla/verify", WORLD_APP_ID)],
                    ..Ruleset::default()
                },
            )
            .expect("ruleset added");
    }

    /// The App's owner grants it `permission` (e.g. `administration: read`, so that
    /// classic branch protection becomes readable).
    pub fn grant_app(&self, permission: &str, access: Access) {
        self.sim
            .set_app_permission(WORLD_APP_ID, permission, Some(access))
            .expect("permission granted");
    }
}
