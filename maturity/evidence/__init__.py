"""Evidence behind the answers (issue 16): the pure core, no Django.

* ``paths``: the one glob matcher (``**`` crosses directories) for readers and rules.
* ``reader``: ``SnapshotReader``, the read-only view of a snapshot every collector gets.
* ``snapshot``: hostile-input-proof reading of uploads (tar.gz archives, JSON manifests,
  local checkouts) into one normalised ``Manifest``.
* ``facts``: the catalogue of fact names and types the collectors produce.
* ``collectors``: the built-in collectors and the ``maturity.collectors`` entry-point registry.
* ``rules``: check rules as data (all/any/not over {fact, op, value}), their evaluation,
  and the verdict of a (team, question).
"""
