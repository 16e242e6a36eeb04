"""UnsubscribeSync has one method per export of the WIT `sync` interface
(as the generated `_wit.FUNCS` lists them), taking the WIT's parameters in
order, so an export added to the WIT without a method fails this test."""
import inspect

from unsubscribe_sync import UnsubscribeSync, _wit


def test_one_method_per_export():
    for name, (params, _result) in _wit.FUNCS.items():
        method = getattr(UnsubscribeSync, name.replace("-", "_") + ("_" if name == "import" else ""), None)
        assert method is not None, f"no method for export {name}"
        got = [p for p in inspect.signature(method).parameters if p != "self"]
        assert got == [py for _, py, _ in params], f"{name}: {got}"
