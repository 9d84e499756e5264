//! Where an image lives and the image calls made there: describe one image
//! or many by id, find images by name, delete one. A `not found` answer is an
//! answer here (`None`, a shorter list, or success for a delete), not an
//! error.

use crate::ucloud::{CUSTOM_IMAGE_TYPE, Client, DescribeImage, Error as ApiError, Image, TerminateCustomImage};
use tokio_util::sync::CancellationToken;

/// A region and project; `None` is the account's default project.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub region: String,
    pub project_id: Option<String>,
}

impl Location {
    pub fn new(region: impl Into<String>, project_id: Option<String>) -> Self {
        Location {
            region: region.into(),
            project_id: project_id.filter(|p| !p.is_empty()),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.project_id {
            Some(p) => write!(f, "region {} (project {p})", self.region),
            None => write!(f, "region {}", self.region),
        }
    }
}

/// The image calls in one location.
pub struct ImageApi<'a> {
    pub client: &'a Client,
    pub loc: Location,
}

/// How many images one DescribeImage page asks for, and how many pages a
/// listing reads at most (10,000 images).
pub const PAGE: u32 = 100;
const MAX_PAGES: u32 = 100;

impl<'a> ImageApi<'a> {
    pub fn new(client: &'a Client, loc: Location) -> Self {
        ImageApi { client, loc }
    }

    /// A DescribeImage request for this location.
    pub fn describe(&self) -> DescribeImage {
        DescribeImage {
            region: self.loc.region.clone(),
            project_id: self.loc.project_id.clone(),
            ..DescribeImage::default()
        }
    }

    /// The image, or `None` when UCloud no longer has it.
    pub async fn get(&self, image_id: &str, cancel: &CancellationToken) -> Result<Option<Image>, ApiError> {
        let req = DescribeImage::by_id(&self.loc.region, self.loc.project_id.clone(), image_id);
        match self.client.call(&req, cancel).await {
            Ok(resp) => Ok(resp.image_set.into_iter().find(|i| i.image_id == image_id)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The images among `ids` that exist, in as few DescribeImage calls as
    /// pages allow: `ImageIds.N` with up to [`PAGE`] ids per call, each call
    /// paged further with Offset should UCloud answer fewer than it was
    /// asked for. Should UCloud refuse a batch as "not found" (RetCode 8956,
    /// not seen, but every official client reads a missing image as an
    /// empty answer only by convention), each of its ids is asked alone so
    /// that one missing image does not hide the others.
    pub async fn get_many(&self, ids: &[String], cancel: &CancellationToken) -> Result<Vec<Image>, ApiError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(PAGE as usize) {
            let req = DescribeImage::by_ids(&self.loc.region, self.loc.project_id.clone(), chunk.to_vec());
            match self.list(req, cancel).await {
                Ok(images) => found.extend(images.into_iter().filter(|i| chunk.contains(&i.image_id))),
                Err(e) if e.is_not_found() && chunk.len() > 1 => {
                    for id in chunk {
                        found.extend(self.get(id, cancel).await?);
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// Every image `req` lists, page by page until UCloud's TotalCount.
    pub async fn list(&self, req: DescribeImage, cancel: &CancellationToken) -> Result<Vec<Image>, ApiError> {
        let mut pages = self.pages(req);
        let mut found: Vec<Image> = Vec::new();
        while let Some(page) = pages.next(cancel).await? {
            found.extend(page);
        }
        Ok(found)
    }

    /// The images `req` lists, one page per call of [`Pages::next`], for
    /// readers that may stop early (a list resource at its limit).
    pub fn pages(&self, req: DescribeImage) -> Pages<'_> {
        Pages {
            api: self,
            req,
            seen: 0,
            calls: 0,
            done: false,
        }
    }

    /// Custom images called `name` created at or after `since` (unix s).
    pub async fn find_by_name(
        &self,
        name: &str,
        since: i64,
        cancel: &CancellationToken,
    ) -> Result<Vec<Image>, ApiError> {
        let req = DescribeImage {
            image_type: Some(CUSTOM_IMAGE_TYPE.to_string()),
            ..self.describe()
        };
        // Page by page, keeping the matches only: memory stays at one page
        // however many images the account holds.
        let mut pages = self.pages(req);
        let mut found = Vec::new();
        while let Some(page) = pages.next(cancel).await? {
            found.extend(
                page.into_iter()
                    .filter(|i| i.image_name == name && i.create_time >= since),
            );
        }
        Ok(found)
    }

    /// Asks UCloud to delete the image; `Ok` also when it is already gone.
    pub async fn terminate(&self, image_id: &str, cancel: &CancellationToken) -> Result<(), ApiError> {
        let req = TerminateCustomImage {
            region: self.loc.region.clone(),
            project_id: self.loc.project_id.clone(),
            image_id: image_id.to_string(),
        };
        match self.client.call(&req, cancel).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// DescribeImage read page by page until UCloud's TotalCount. The next page
/// starts after what the last one held, so a server that answers fewer than
/// `Limit` per page loses nothing; at most `MAX_PAGES` calls are made.
pub struct Pages<'a> {
    api: &'a ImageApi<'a>,
    req: DescribeImage,
    seen: usize,
    calls: u32,
    done: bool,
}

impl Pages<'_> {
    /// The next page, or `None` when every image was read.
    pub async fn next(&mut self, cancel: &CancellationToken) -> Result<Option<Vec<Image>>, ApiError> {
        if self.done || self.calls >= MAX_PAGES {
            return Ok(None);
        }
        self.calls += 1;
        let page_req = DescribeImage {
            offset: Some(u32::try_from(self.seen).unwrap_or(u32::MAX)),
            limit: Some(PAGE),
            ..self.req.clone()
        };
        let resp = self.api.client.call(&page_req, cancel).await?;
        self.seen += resp.image_set.len();
        let total = usize::try_from(resp.total_count).unwrap_or(0);
        self.done = resp.image_set.is_empty() || self.seen >= total;
        Ok(Some(resp.image_set).filter(|page| !page.is_empty()))
    }
}
