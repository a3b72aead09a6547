//! Bounds on the work one connector can cause: how much of a response is read (and how much all
//! syncs together hold, `budget`), how many pages
//! a listing may have (and that it never revisits one), and how remote text is shortened before
//! anyone sees it. A hostile or broken server fails only its own connector's sync.

pub mod body;
pub mod budget;
pub mod lists;
pub mod paging;

pub use body::{Body, BodyError, MAX_RESPONSE_BYTES, read_capped};
pub use budget::{BudgetExhausted, MemoryBudget};
pub use lists::{MAX_LISTED, capped_join, capped_list};
pub use paging::{MAX_PAGES, PageTracker, PagingError};
// Pure, so it lives in the core crate, which cleans the names and emails it reports too.
pub use pbconnector_core::text::{
    MAX_REMOTE_TEXT_CHARS, has_hidden_chars, is_hidden_char, remote_text,
};
