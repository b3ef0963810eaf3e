//! `indexer follow`: keeps an alias's live index true between rebuilds by applying the table's
//! stream to it, continuously.
//!
//! The model:
//!
//! - **One follower per alias**, by lease ([`lease`]): the `follower:<alias>` record in the
//!   status index names the holder and its heartbeat, and holds the follower's checkpoints. A
//!   second follower is refused (exit 4); a follower whose heartbeat is older than its lease is
//!   taken over, from its last checkpoints.
//! - **The same ordering as a rebuild's stream replay** ([`reader`]): every record becomes a
//!   write or a delete versioned in the stream band ([`crate::sink::version`]), so a follower and
//!   a rebuild's own replay write the same item in the same order, and both outrank any scanned
//!   copy; parents are read before children; new shards are found every few seconds.
//! - **Where the alias points at the moment of the write**: the alias is resolved again before
//!   every step's writes, so a rebuild's swap is followed. A write that lands in the old index
//!   just after a swap is not lost: the rebuild replays the stream into its index until after
//!   its swap.
//! - **Checkpoints** per shard: the position of the last records whose writes have a durable
//!   verdict (acknowledged, or dead-lettered), saved in the follower record at every heartbeat
//!   and on stop; a restart resumes from them (at-least-once; replays are idempotent).
//! - **Stops cleanly** on SIGTERM/SIGINT: it reads nothing more, lets the writes in flight land
//!   (within the stop timeout), saves its checkpoints, releases the lease and exits 5.

pub mod args;
mod driver;
mod follower;
mod heal;
pub mod lease;
mod plan;
pub mod prune;
pub mod reader;
pub mod status;
mod target;

pub use args::FollowArgs;
pub use driver::follow;
pub use plan::FollowPlan;
