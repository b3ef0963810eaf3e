//! What the fault proxy is asked to do ([`FaultPlan`], its [`Rule`]s and faults) and what it
//! reports having seen ([`Seen`]).

use std::collections::HashMap;
use std::sync::Arc;

use crate::http1::Request;

/// What to do to a whole `_bulk` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFault {
    /// Answer with this status and an error body; forward nothing.
    Status(u16),
    /// Close the connection with a TCP reset before answering.
    Reset,
    /// Never answer (until the client gives up and closes the connection).
    Hang,
    /// Answer with this status and a body that is not JSON (an HTML page from a proxy, or
    /// truncated JSON under a 200); forward nothing.
    Garbage(u16, &'static str),
}

/// What a [`Rule`] does to the request it catches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and an error body; forward nothing.
    Status(u16),
    /// Close the connection with a TCP reset before forwarding.
    Reset,
    /// Never answer, forward nothing (until the client gives up).
    Hang,
    /// Forward the request (the server applies it), then reset the connection instead of
    /// answering: the client cannot know whether it was applied.
    DropAnswer,
    /// Forward the request (the server applies it), then never answer: the run is held just
    /// after that request took effect (to kill it there).
    ApplyThenHang,
    /// Answer a DynamoDB Streams `GetRecords` with no records and the same iterator, forwarding
    /// nothing: what DynamoDB documents it may do while records lie further on in the shard.
    EmptyRecords,
    /// Answer with this status and body (an older cluster's `GET /`, or its refusal of an API it
    /// lacks); forward nothing.
    Answer(u16, &'static str),
    /// Answer a DynamoDB `BatchGetItem` with every key it asked for left unprocessed, as a
    /// throttled table does; forward nothing.
    Unprocessed,
    /// Hold the request until the test releases it (a permit of [`FaultPlan::release`]), then
    /// forward it and answer as usual: the run waits at that request as long as the test needs.
    Held,
}

/// Which requests a rule catches.
pub type Matcher = std::sync::Arc<dyn Fn(&Request) -> bool + Send + Sync>;

/// A fault for the `nth` (1-based) request that `matches`, fired once.
#[derive(Clone)]
pub struct Rule {
    pub name: String,
    pub matches: Matcher,
    pub nth: u32,
    pub fault: Fault,
    /// Only requests whose body is at least this long count (0: all).
    pub min_body: usize,
    /// Fire for every matching request from the `nth` on, not once.
    pub repeat: bool,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} #{}: {:?}", self.name, self.nth, self.fault)
    }
}

impl Rule {
    /// A rule for the `nth` request with `method` whose path `test` accepts.
    pub fn new(
        name: &str,
        method: &'static str,
        nth: u32,
        fault: Fault,
        test: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Rule {
        Rule {
            name: name.to_owned(),
            matches: std::sync::Arc::new(move |request: &Request| {
                request.method == method && test(request.path())
            }),
            nth,
            fault,
            min_body: 0,
            repeat: false,
        }
    }
}

impl Rule {
    /// A rule for the `nth` AWS JSON-protocol call whose `X-Amz-Target` ends with `operation`
    /// (`GetRecords`, `Scan`, …), for a proxy in front of DynamoDB or its streams.
    pub fn aws_call(name: &str, operation: &'static str, nth: u32, fault: Fault) -> Rule {
        Rule {
            name: name.to_owned(),
            matches: std::sync::Arc::new(move |request: &Request| {
                request
                    .header("x-amz-target")
                    .is_some_and(|target| target.ends_with(operation))
            }),
            nth,
            fault,
            min_body: 0,
            repeat: false,
        }
    }
}

/// Faults to inject, consumed as requests arrive.
#[derive(Debug, Default, Clone)]
pub struct FaultPlan {
    /// Faults for any request (see [`Rule`]), checked before the `_bulk` faults below.
    pub rules: Vec<Rule>,
    /// Faults for the 1st, 2nd, … `_bulk` request; requests past the list pass through.
    pub bulk_requests: Vec<Option<RequestFault>>,
    /// Per document id: the statuses to answer for its next attempts (then it passes through).
    pub items: HashMap<String, Vec<u16>>,
    /// Document ids refused every time with a 400 `mapper_parsing_exception`.
    pub always_reject: Vec<String>,
    /// A pause before answering each `_bulk` request, to make a run last.
    pub bulk_delay: std::time::Duration,
    /// When set, each `_bulk` request waits for a permit of this semaphore (and uses it up)
    /// before it is forwarded: the test decides when a write reaches the cluster.
    pub bulk_gate: Option<Arc<tokio::sync::Semaphore>>,
    /// Releases requests held by [`Fault::Held`], one per permit.
    pub release: Option<Arc<tokio::sync::Semaphore>>,
}

/// What the proxy saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub bulk_requests: u32,
    pub injected_statuses: u32,
    pub resets: u32,
    pub hangs: u32,
    pub injected_items: u32,
    /// Requests received, and the `Authorization` header of each (empty when absent).
    pub requests: u32,
    pub authorizations: Vec<String>,
    /// `POST /_aliases` requests: alias swaps and rollbacks.
    pub alias_updates: u32,
    /// How often each rule (by position) fired.
    pub rule_hits: Vec<u32>,
}
