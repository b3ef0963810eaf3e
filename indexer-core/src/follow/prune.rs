//! What a follower saves of its positions: not the shards it will never read again.

use std::collections::HashMap;

use crate::source::positions::StreamPosition;

/// Leaves out of `positions` every ended shard that is the oldest saved one of its line and
/// has a saved child, again and again: a follower runs for weeks while DynamoDB closes shards
/// every few hours, and the record must not grow with them. A resume skips a closed shard that
/// is not saved and descends from no saved shard, so what is left out is never read again, while
/// its children resume from their own positions.
pub fn prune(
    positions: Vec<StreamPosition>,
    parents: &HashMap<String, String>,
) -> Vec<StreamPosition> {
    let mut kept = positions;
    loop {
        let saved: std::collections::HashSet<String> =
            kept.iter().map(|p| p.shard.clone()).collect();
        let before = kept.len();
        kept.retain(|p| {
            let root = parents
                .get(&p.shard)
                .is_none_or(|parent| !saved.contains(parent));
            let has_child = parents
                .iter()
                .any(|(child, parent)| parent == &p.shard && saved.contains(child));
            !(p.ended && root && has_child)
        });
        if kept.len() == before {
            return kept;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::positions::{Resume, resume_points};

    fn at(shard: &str, from: Option<&str>, ended: bool) -> StreamPosition {
        StreamPosition {
            worker: 0,
            shard: shard.into(),
            from: from.map(str::to_owned),
            ended,
        }
    }

    #[test]
    fn ended_shards_whose_children_carry_on_are_left_out_and_nothing_else() {
        let parents: HashMap<String, String> = [("e", "p"), ("c", "e"), ("d", "e"), ("x", "y")]
            .iter()
            .map(|(c, p)| ((*c).to_owned(), (*p).to_owned()))
            .collect();
        let positions = vec![
            at("p", None, true),
            at("e", Some("5"), true),
            at("c", Some("9"), false),
            at("d", None, false),
            // Ended, but no child saved yet: kept, or a resume would read it again.
            at("y", Some("3"), true),
            at("lone", Some("4"), false),
        ];
        let kept = prune(positions, &parents);
        let names: Vec<&str> = kept.iter().map(|p| p.shard.as_str()).collect();
        assert_eq!(names, ["c", "d", "y", "lone"]);
        // What is left resumes as before: the children where they stood.
        let points = resume_points(&kept);
        assert_eq!(points["c"], Resume::At("9".into()));
        assert_eq!(points["d"], Resume::FromStart);
    }
}
