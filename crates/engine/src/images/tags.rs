//! `tag`: give a local image another name ([`Engine::tag`]).

use crate::Engine;
use crate::error::{Error, Result};

impl Engine {
    /// Name the local image `source` (`name[:tag]`, `name@digest` or id) `target`
    /// (`name[:tag]`). Records the `tag` event.
    pub async fn tag(&self, source: &str, target: &str) -> Result<()> {
        let img = self.find_image(source).await?;
        let target_ref = self.reference(target)?;
        if target_ref.digest.is_some() {
            return Err(Error::InvalidArgument(format!(
                "refusing to create a tag with a digest reference: {target}"
            )));
        }
        let (name, tag) = (target_ref.name(), target_ref.tag_or_latest());
        self.store.tag(&img.record.id, &name, tag).await?;
        crate::events::emit(
            &self.config.root,
            "image",
            "tag",
            &img.record.id.to_string(),
            &[("name", self.familiar(&name, tag))],
        );
        Ok(())
    }
}
