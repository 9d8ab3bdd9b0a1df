//! User configuration objects (the folder-associated messages behind GetUserConfiguration &
//! co.): per mailbox, by folder and name; only their XML and binary data are kept.

use super::{FolderKind, Mailbox, Store};

/// One stored configuration object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUserConfig {
    /// Its item id (stable for its life).
    pub item_id: String,
    pub xml_data: Option<Vec<u8>>,
    pub binary_data: Option<Vec<u8>>,
}

/// Why a configuration object could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserConfigError {
    /// CreateUserConfiguration of a name that exists.
    Exists,
    /// UpdateUserConfiguration of a name that does not.
    NotFound,
}

impl Store {
    /// The configuration object `name` of a folder.
    pub fn user_config(&self, mailbox: &Mailbox, folder: FolderKind, name: &str) -> Option<StoredUserConfig> {
        mailbox.data.read().user_configs.get(&(folder, name.to_string())).cloned()
    }

    /// Creates a configuration object; it must not exist yet.
    pub fn create_user_config(
        &self,
        mailbox: &Mailbox,
        folder: FolderKind,
        name: &str,
        xml_data: Option<Vec<u8>>,
        binary_data: Option<Vec<u8>>,
    ) -> Result<StoredUserConfig, UserConfigError> {
        let mut data = mailbox.data.write();
        let key = (folder, name.to_string());
        if data.user_configs.contains_key(&key) {
            return Err(UserConfigError::Exists);
        }
        let n = data.next_item;
        data.next_item += 1;
        let stored = StoredUserConfig { item_id: format!("AAMkSimCfg{}x{n}", mailbox.number()), xml_data, binary_data };
        data.user_configs.insert(key, stored.clone());
        Ok(stored)
    }

    /// Replaces the data an update carries (`None` leaves that part as it is).
    pub fn update_user_config(
        &self,
        mailbox: &Mailbox,
        folder: FolderKind,
        name: &str,
        xml_data: Option<Vec<u8>>,
        binary_data: Option<Vec<u8>>,
    ) -> Result<StoredUserConfig, UserConfigError> {
        let mut data = mailbox.data.write();
        let stored = data.user_configs.get_mut(&(folder, name.to_string())).ok_or(UserConfigError::NotFound)?;
        if xml_data.is_some() {
            stored.xml_data = xml_data;
        }
        if binary_data.is_some() {
            stored.binary_data = binary_data;
        }
        Ok(stored.clone())
    }
}
