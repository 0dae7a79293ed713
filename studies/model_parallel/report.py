"""Human-readable lines for one approach's result: what the binary prints and the docs quote."""
import json


def _num(value, spec, unit=""):
    """``value`` formatted, or 'not run' (--nocompare)."""
    return "not run" if value is None else format(value, spec) + unit


def format_result(result):
    """Human-readable lines for one approach's result."""
    lines = [f"== {result['approach']}: {result['status']}"]
    for shard in result.get("shards", []):
        lines.append(f"  {shard['variable']:<36} {str(shard['shape']):<12} on {shard['device']}")
    for layer, devices in result.get("compute_devices", {}).items():
        lines.append(f"  {layer} partial outputs computed on: {', '.join(devices)}")
    if "graph_ops_pinned" in result:
        lines.append(f"  pinned ops in the traced graph: {', '.join(result['graph_ops_pinned'])}")
    if "step_ms" in result:
        ms, loss = result["step_ms"], result["loss"]
        lines += [f"  step time: sharded {ms['sharded']:.1f} ms, unsharded {_num(ms['unsharded'], '.1f', ' ms')} "
                  f"({result['run']['steps']} steps, batch {result['run']['batch_size']})",
                  f"  held-out masked loss: before {loss['before']:.4f}, after {loss['after']:.4f} "
                  f"(unsharded from the same start: {_num(loss['unsharded_after'], '.4f')})",
                  f"  max |sharded - re-assembled plain MLM| = {result['max_abs_diff_vs_unsharded']:.3g}"]
    for a in result.get("attempts", []):
        detail = f"{a['error_type']}: {a['error']}  [{a['where']}]" if a["status"] == "failed" else \
            json.dumps({k: v for k, v in a.items() if k not in ("attempt", "status")})
        lines.append(f"  - {a['attempt']}: {a['status'].upper()} {detail}")
    if result["status"] == "crashed":
        lines.append(f"  {result['error']}")
    return "\n".join(lines)
