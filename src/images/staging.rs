//! Staged image files shared within one provider process: two images made
//! from the same file in the same bucket stage it at the same key (it is
//! named by its content), and Terraform creates them at once. Without a
//! rule, both would upload the same object side by side, and the first
//! image to become `Available` would delete the object the second import is
//! still reading.
//!
//! [`Staging::join`] counts the images using an object and gives the lock
//! that lets one upload of it run at a time (the next finds the object by
//! its ETag and sends nothing); [`Staging::release`] says whether the last of them is done, so
//! the object is deleted once. A create that fails keeps its count: its
//! object is kept for the next apply anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Mutex as AsyncMutex;

use crate::ucloud::ufile::ObjectRef;

#[derive(Default)]
struct Entry {
    uploading: Arc<AsyncMutex<()>>,
    users: usize,
}

/// The staged objects of this process. Cheap to share behind an `Arc`.
#[derive(Default)]
pub struct Staging {
    objects: Mutex<HashMap<ObjectRef, Entry>>,
}

impl Staging {
    /// Counts one more image using `object`; upload it while holding the
    /// returned lock, so an upload of it in progress here ends first.
    pub fn join(&self, object: &ObjectRef) -> Arc<AsyncMutex<()>> {
        let mut objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = objects.entry(object.clone()).or_default();
        entry.users += 1;
        entry.uploading.clone()
    }

    /// One image is done with `object`; true when it was the last one
    /// here (the object may be deleted).
    pub fn release(&self, object: &ObjectRef) -> bool {
        let mut objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = objects.get_mut(object) else {
            return true;
        };
        entry.users = entry.users.saturating_sub(1);
        if entry.users == 0 {
            objects.remove(object);
            true
        } else {
            false
        }
    }
}

impl std::fmt::Debug for Staging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Staging").field("objects", &objects.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn one_upload_at_a_time_and_the_last_user_deletes() {
        let staging = Arc::new(Staging::default());
        let object = ObjectRef::new("b", "k");
        let first = staging.join(&object).lock_owned().await;
        let second = {
            let lock = staging.join(&object);
            tokio::spawn(async move {
                let _uploading = lock.lock().await;
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!second.is_finished(), "the second upload waits for the first");
        drop(first);
        second.await.expect("the second upload runs");
        assert!(!staging.release(&object), "another image still uses it");
        assert!(staging.release(&object), "the last one deletes it");
        // Another object is independent.
        let _other = staging.join(&ObjectRef::new("b", "other"));
        assert!(staging.release(&ObjectRef::new("b", "other")));
    }
}
