"""Runs an Argo CD health-check Lua script the way Argo CD does, for tests/helm_examples.rs.

stdin:  {"script": "<lua>", "objects": [<resource as JSON>, ...]}
stdout: [{"status": "...", "message": "..."}, ...], one per object, in order.

Argo CD runs the script with gopher-lua (Lua 5.1) and the resource as the global `obj`; lupa's
lua51 module is the closest real interpreter. JSON null fields are absent (nil) in Lua, as there.
"""

import json
import sys

import lupa.lua51 as lua51


def to_lua(runtime, value):
    if isinstance(value, dict):
        return runtime.table_from(
            {k: to_lua(runtime, v) for k, v in value.items() if v is not None}
        )
    if isinstance(value, list):
        return runtime.table_from([to_lua(runtime, v) for v in value if v is not None])
    return value


def main():
    request = json.load(sys.stdin)
    results = []
    for obj in request["objects"]:
        runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
        runtime.globals().obj = to_lua(runtime, obj)
        hs = runtime.execute(request["script"])
        results.append({"status": hs["status"], "message": hs["message"]})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
