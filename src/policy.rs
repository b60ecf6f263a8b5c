//! Who may receive what: the disclosure rule. Intake's answers, notify's notices and the
//! outbox worker's check at send time all ask here, so the rule is written once. It
//! knows nothing of transport: it reads the configuration, the directory and the
//! case's verified participants (through the store).

use std::sync::Arc;

use sqlx::SqliteConnection;

use crate::config::Config;
use crate::domain::EmailAddress;
use crate::routing::DirectoryHandle;
use crate::store::{cases, StoreError};

/// The disclosure rule, with what it reads.
#[derive(Clone)]
pub struct Disclosure {
    config: Arc<Config>,
    directory: DirectoryHandle,
}

impl Disclosure {
    pub fn new(config: Arc<Config>, directory: DirectoryHandle) -> Self {
        Self { config, directory }
    }

    /// The directory this rule reads (reloaded when its file changes).
    pub fn directory(&self) -> &DirectoryHandle {
        &self.directory
    }

    /// An address in the allowed domains, anyone the directory names, or a participant
    /// of the case whose mail passed verification; never an address whose local part
    /// routes elsewhere (`%`, `!`, quoted), whatever its domain.
    pub async fn allowed(
        &self,
        conn: &mut SqliteConnection,
        case_id: Option<i64>,
        address: &EmailAddress,
    ) -> Result<bool, StoreError> {
        if let Some(verdict) = self.verdict_without_case(address) {
            return Ok(verdict);
        }
        match case_id {
            Some(case_id) => cases::is_verified_participant(conn, case_id, address).await,
            None => Ok(false),
        }
    }

    /// `None` when mail to `address` may go out by itself, else why an analyst must
    /// release it (the text shown in the outbound list).
    pub async fn hold_for(
        &self,
        conn: &mut SqliteConnection,
        case_id: Option<i64>,
        address: &EmailAddress,
    ) -> Result<Option<String>, StoreError> {
        Ok(if self.allowed(conn, case_id, address).await? {
            None
        } else {
            Some(hold_reason(address))
        })
    }

    /// The parts of the rule that do not depend on a case.
    pub fn allowed_without_case(&self, address: &EmailAddress) -> bool {
        self.verdict_without_case(address).unwrap_or(false)
    }

    /// What the configuration alone says: `Some(false)` for an address whose local part
    /// routes elsewhere (the one place that check is made), `Some(true)` for the allowed
    /// domains and the directory, `None` when only the case's participants can tell.
    fn verdict_without_case(&self, address: &EmailAddress) -> Option<bool> {
        if !address.is_plainly_routable() {
            return Some(false);
        }
        let configured = self
            .config
            .gateway
            .allowed_domains
            .iter()
            .any(|d| address.in_domain(d))
            || self.directory.get().contains(address);
        configured.then_some(true)
    }
}

/// Why mail to `address` is held for an analyst, in words for the outbound list.
pub fn hold_reason(address: &EmailAddress) -> String {
    match address.routing_concern() {
        Some(concern) => format!(
            "{address} has {concern}, so its domain cannot vouch for it; an analyst must release it"
        ),
        None => format!(
            "{address} is outside the allowed domains ([gateway] allowed_domains), not in the directory and not a verified participant; an analyst must release it"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Directory;
    use crate::store::Store;

    #[tokio::test]
    async fn a_routing_local_part_is_never_allowed_even_for_a_verified_participant() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/t.db", tmp.path().display()))
            .await
            .unwrap();
        let config = Config::from_toml_with_env(
            "[gateway]\nallowed_domains = [\"agency.test\"]\n",
            "test",
            Vec::<(String, String)>::new(),
        )
        .unwrap();
        let rule = Disclosure::new(
            Arc::new(config),
            DirectoryHandle::fixed(Directory::default()),
        );
        let mut conn = store.acquire().await.unwrap();
        let now = chrono::Utc::now();
        let (case, _) = cases::insert_for_test(&mut conn, 1).await;
        let addr = |s: &str| EmailAddress::parse(s).unwrap();
        let plain = addr("erin@vendor.test");
        let routed = [
            addr("carl%outside.test@agency.test"),
            addr("outside.test!carl@agency.test"),
            addr("dana%outside.test@vendor.test"),
        ];
        // Participants of the case whose mail passed verification.
        for a in routed.iter().chain([&plain]) {
            cases::verify_participant(&mut conn, case, a.as_str(), now)
                .await
                .unwrap();
        }
        assert!(rule.allowed(&mut conn, Some(case), &plain).await.unwrap());
        assert!(rule.allowed_without_case(&addr("carl@agency.test")));
        for a in &routed {
            assert!(!rule.allowed_without_case(a), "{a}");
            assert!(
                !rule.allowed(&mut conn, Some(case), a).await.unwrap(),
                "{a}"
            );
            let why = hold_reason(a);
            assert!(
                why.contains("local part") && why.contains("analyst"),
                "{why}"
            );
        }
    }
}
