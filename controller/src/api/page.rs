//! Pagination of the list routes, as k6 Cloud's legacy API does it: `page` (from 1) and
//! `page_size` query parameters, the total number of matching items in `meta.count`. Services
//! cut the page out while they walk their items, so a list answer never copies more than one
//! page, whatever the number of tests or runs.

use super::query::Query;
use super::ApiError;

/// Items per page when `page_size` is not given.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The largest `page_size` accepted.
pub const MAX_PAGE_SIZE: usize = 1000;

/// One page of a list: items `(number - 1) * size ..` up to `size` of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// From 1.
    pub number: usize,
    pub size: usize,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            number: 1,
            size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// One page of items and how many items match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed<T> {
    pub count: usize,
    pub items: Vec<T>,
}

impl Page {
    /// Reads `page` and `page_size` from the query; a value that is not a whole number in range
    /// is a 400 naming the parameter and its range.
    pub fn take(q: &mut Query) -> Result<Page, ApiError> {
        let mut page = Page::default();
        if let Some(v) = q.take_one(&["page"])? {
            page.number = parse("page", &v, usize::MAX)?;
        }
        if let Some(v) = q.take_one(&["page_size"])? {
            page.size = parse("page_size", &v, MAX_PAGE_SIZE)?;
        }
        Ok(page)
    }

    /// Counts every item and clones only those of this page.
    pub fn collect<'a, T: Clone + 'a>(&self, items: impl Iterator<Item = &'a T>) -> Listed<T> {
        let skip = self.number.saturating_sub(1).saturating_mul(self.size);
        let mut count = 0;
        let mut out = Vec::new();
        for item in items {
            if count >= skip && out.len() < self.size {
                out.push(item.clone());
            }
            count += 1;
        }
        Listed { count, items: out }
    }
}

fn parse(name: &str, v: &str, max: usize) -> Result<usize, ApiError> {
    match v.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => {
            let range = if max == usize::MAX {
                "a whole number from 1".to_string()
            } else {
                format!("a whole number from 1 to {max}")
            };
            Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "query parameter `{name}` must be {range}, got `{}`",
                    volley_common::text::bounded(v, 64)
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(raw: &str) -> Result<Page, String> {
        let mut q = Query::parse(Some(raw)).map_err(|e| e.message.clone())?;
        Page::take(&mut q).map_err(|e| e.message)
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(page(""), Ok(Page::default()));
        assert_eq!(page("page=3&page_size=7"), Ok(Page { number: 3, size: 7 }));
        assert_eq!(page("page_size=1000").map(|p| p.size), Ok(MAX_PAGE_SIZE));
    }

    #[test]
    fn bad_values_name_the_parameter_and_range() {
        for (raw, name) in [
            ("page=0", "`page` must be a whole number from 1,"),
            ("page=-1", "`page` must be"),
            ("page=x", "`page` must be"),
            (
                "page_size=0",
                "`page_size` must be a whole number from 1 to 1000",
            ),
            (
                "page_size=1001",
                "`page_size` must be a whole number from 1 to 1000",
            ),
            ("page_size=1.5", "`page_size` must be"),
        ] {
            let e = page(raw).err().unwrap_or_default();
            assert!(e.contains(name), "{raw}: {e}");
        }
        let huge = format!("page={}", "9".repeat(100_000));
        let e = page(&huge).err().unwrap_or_default();
        assert!(
            e.len() < 300,
            "the echoed value is bounded: {} bytes",
            e.len()
        );
    }

    #[test]
    fn collect_counts_all_and_clones_one_page() {
        let items: Vec<u32> = (1..=25).collect();
        let p = |number, size| Page { number, size }.collect(items.iter());
        assert_eq!(
            p(1, 10),
            Listed {
                count: 25,
                items: (1..=10).collect()
            }
        );
        assert_eq!(
            p(3, 10),
            Listed {
                count: 25,
                items: (21..=25).collect()
            }
        );
        assert_eq!(
            p(4, 10),
            Listed {
                count: 25,
                items: vec![]
            }
        );
        assert_eq!(p(usize::MAX, 1000).items, Vec::<u32>::new());
    }
}
