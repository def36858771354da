"""Built-in collectors: one module per source, each a :class:`edgewatch.model.Collector`.

They read ``/proc`` and ``/sys`` directly (roots injected as ``proc_root`` and
``sys_root`` so tests run against checked-in fake trees) and are looked up by kind
through :mod:`edgewatch.collect.registry`.
"""
