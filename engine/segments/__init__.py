"""The segment rule language: validation, MongoDB compilation and Python evaluation.

A rule is JSON data: groups ({"all": [...]}, {"any": [...]}, {"not": rule}) of conditions
on properties, tags, behaviour (event aggregates), engagement, reachability and
membership of other segments. `compile.to_filter` and `evaluate.matches` must agree on
every contact; property-based tests check it on the database.
"""
