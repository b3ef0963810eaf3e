"""Offline check of the task-outcome rules: every way a worker task ends reaches the alerts topic.

The EventBridge rules in notifications.tf take their patterns from task-outcomes.json. This
matches those patterns against ECS "Task State Change" events shaped as ECS sends them (one per
outcome: exit codes 0 to 6 and 137, a task that failed to start, a launched task stopped before
its container ran, a follower service's task stopped by a deployment, a task still running) and
fails naming every event routed wrongly. No AWS account or provider registry is needed, so
scripts/check-infra runs it on every branch.

The matcher implements the part of EventBridge's documented pattern language the file may use:
exact values, `prefix`, `anything-but` (a list of values), `exists`, `numeric` and `$or`, with
arrays of objects matched element by element (a field of `containers` matches when any
container's does) and a field absent from the event matched only by `exists: false`. Any other
operator fails the check, so the file cannot quietly outgrow it.

Run: python task_outcomes.py [path/to/task-outcomes.json]
"""

import copy
import json
import numbers
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
PATTERNS = HERE.parent / "task-outcomes.json"

CLUSTER = "arn:aws:ecs:eu-west-2:123456789012:cluster/indexer-production"
LAUNCHED = "family:indexer-production"
FOLLOWER = "service:indexer-production-follow-persons"

# An ECS task state change for a stopped worker task, trimmed to the fields the rules and the
# notification's input paths read.
STOPPED = {
    "version": "0",
    "source": "aws.ecs",
    "detail-type": "ECS Task State Change",
    "region": "eu-west-2",
    "detail": {
        "clusterArn": CLUSTER,
        "taskArn": "arn:aws:ecs:eu-west-2:123456789012:task/indexer-production/0123abcd",
        "group": LAUNCHED,
        "startedBy": "indexer-persons",
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
        "containers": [
            {
                "name": "indexer",
                "lastStatus": "STOPPED",
                "exitCode": 0,
            }
        ],
    },
}


def event(exit_code=None, group=LAUNCHED, stop_code="EssentialContainerExited", last="STOPPED"):
    """A stopped-task event; `exit_code=None` leaves the container without one."""
    made = copy.deepcopy(STOPPED)
    detail = made["detail"]
    detail["group"] = group
    detail["stopCode"] = stop_code
    detail["lastStatus"] = last
    container = detail["containers"][0]
    if exit_code is None:
        del container["exitCode"]
        container["lastStatus"] = "STOPPED" if last == "STOPPED" else last
        container["reason"] = "CannotPullContainerError: pull access denied"
    else:
        container["exitCode"] = exit_code
    if last != "STOPPED":
        detail["desiredStatus"] = "RUNNING"
        del detail["stopCode"]
        detail.pop("stoppedReason", None)
    return made


# (what happened, the event, whether `failed` must match, whether `succeeded` must match)
CASES = [
    ("exit 0: success", event(0), False, True),
    ("exit 1: the job failed", event(1), True, False),
    ("exit 2: bad input", event(2), True, False),
    ("exit 3: the gate refused the swap", event(3), True, False),
    ("exit 4: another job holds the lock", event(4), True, False),
    ("exit 5: a launched run was interrupted", event(5), True, False),
    ("exit 5: Fargate Spot reclaimed a launched run", event(5, stop_code="SpotInterruption"), True, False),
    ("exit 6: verify found drift", event(6), True, False),
    ("exit 137: killed (out of memory, or SIGKILL after stopTimeout)", event(137), True, False),
    ("never started: image pull or ENI", event(None, stop_code="TaskFailedToStart"), True, False),
    (
        "never started: a follower's task",
        event(None, group=FOLLOWER, stop_code="TaskFailedToStart"),
        True,
        False,
    ),
    ("a launched task stopped before its container ran", event(None, stop_code="UserInitiated"), True, False),
    ("a launched task reclaimed by Fargate Spot while pending", event(None, stop_code="SpotInterruption"), True, False),
    ("a follower fails (exit 1)", event(1, group=FOLLOWER), True, False),
    ("a follower is killed (exit 137)", event(137, group=FOLLOWER), True, False),
    (
        "a follower stopped by a deployment saves and exits 5",
        event(5, group=FOLLOWER, stop_code="ServiceSchedulerInitiated"),
        False,
        False,
    ),
    ("a task still running", event(0, last="RUNNING"), False, False),
    (
        "a task of another cluster",
        (lambda e: (e["detail"].__setitem__("clusterArn", CLUSTER + "-other"), e)[1])(event(1)),
        False,
        False,
    ),
]


def flatten(node, path="", out=None):
    """Leaf values by dotted path; an array contributes each of its elements under its path."""
    out = {} if out is None else out
    if isinstance(node, dict):
        for key, value in node.items():
            flatten(value, f"{path}.{key}" if path else key, out)
    elif isinstance(node, list):
        for element in node:
            flatten(element, path, out)
    else:
        out.setdefault(path, []).append(node)
    return out


def is_number(value):
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def equal(a, b):
    if is_number(a) and is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def filter_matches(rule, values):
    """Whether one filter of a leaf's list matches the event's values there (None: absent)."""
    if not isinstance(rule, dict):
        return values is not None and any(equal(rule, v) for v in values)
    if len(rule) != 1:
        raise ValueError(f"a filter has exactly one operator: {rule}")
    (operator, operand), = rule.items()
    if operator == "exists":
        return (values is not None) == operand
    if values is None:
        return False
    if operator == "prefix":
        return any(isinstance(v, str) and v.startswith(operand) for v in values)
    if operator == "anything-but":
        refused = operand if isinstance(operand, list) else [operand]
        if any(isinstance(r, dict) for r in refused):
            raise ValueError(f"anything-but with a nested operator is not checked here: {rule}")
        return any(not any(equal(r, v) for r in refused) for v in values)
    if operator == "numeric":
        checks = {"<": float.__lt__, "<=": float.__le__, "=": float.__eq__, ">=": float.__ge__, ">": float.__gt__}
        pairs = list(zip(operand[::2], operand[1::2]))
        return any(
            is_number(v) and all(checks[op](float(v), float(bound)) for op, bound in pairs) for v in values
        )
    raise ValueError(f"operator {operator!r} is not one this check knows; extend the matcher first")


def matches(pattern, flat, path=""):
    for key, rule in pattern.items():
        if key == "$or":
            if not any(matches(branch, flat, path) for branch in rule):
                return False
            continue
        here = f"{path}.{key}" if path else key
        if isinstance(rule, dict):
            if not matches(rule, flat, here):
                return False
        elif isinstance(rule, list):
            values = flat.get(here)
            if not any(filter_matches(r, values) for r in rule):
                return False
        else:
            raise ValueError(f"{here}: a pattern leaf is a list of filters, not {rule!r}")
    return True


def rule_pattern(detail):
    """The whole pattern as notifications.tf builds it."""
    return {
        "source": ["aws.ecs"],
        "detail-type": ["ECS Task State Change"],
        "detail": {"clusterArn": [CLUSTER], **detail},
    }


def self_test():
    """The matcher's own semantics, on cases whose EventBridge answer is documented."""
    flat = flatten({"a": [{"x": 1}, {"x": 2, "y": "s3"}], "b": "family:f"})
    assert matches({"a": {"x": [2]}}, flat)
    assert not matches({"a": {"x": [3]}}, flat)
    assert matches({"a": {"x": [{"anything-but": [1]}]}}, flat)
    assert not matches({"a": {"z": [{"anything-but": [1]}]}}, flat), "absent fields match only exists: false"
    assert matches({"a": {"z": [{"exists": False}]}}, flat)
    assert not matches({"a": {"y": [{"exists": False}]}}, flat)
    assert matches({"b": [{"prefix": "family:"}]}, flat)
    assert matches({"$or": [{"b": ["no"]}, {"a": {"y": ["s3"]}}]}, flat)
    assert not matches({"a": {"x": ["1"]}}, flat), "a string never equals a number"


def main():
    path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else PATTERNS
    patterns = json.loads(path.read_text())
    if set(patterns) != {"failed", "succeeded"}:
        sys.exit(f"{path}: expected the patterns `failed` and `succeeded`, found {sorted(patterns)}")
    self_test()
    wrong = []
    for what, sample, want_failed, want_succeeded in CASES:
        flat = flatten(sample)
        got_failed = matches(rule_pattern(patterns["failed"]), flat)
        got_succeeded = matches(rule_pattern(patterns["succeeded"]), flat)
        if (got_failed, got_succeeded) != (want_failed, want_succeeded):
            wrong.append(
                f"  {what}: task-failed {'matches' if got_failed else 'misses'} it"
                f" (should {'match' if want_failed else 'miss'}),"
                f" task-succeeded {'matches' if got_succeeded else 'misses'} it"
                f" (should {'match' if want_succeeded else 'miss'})"
            )
    if wrong:
        sys.exit(f"{path}: task outcomes routed wrongly:\n" + "\n".join(wrong))
    print(f"task outcomes: {len(CASES)} sample ECS events routed as expected by {path.name}")


if __name__ == "__main__":
    main()
