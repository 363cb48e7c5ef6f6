"""Which datasets the platform processes: the ``dataset:`` of every contract file in a directory.

The contracts are configuration (the chart's ConfigMap, mounted into the Airflow components at
``MDP_CONTRACTS_DIR``), so a dataset added by ``helm upgrade`` must reach the DAGs without a new
image or a restart. Two consequences shape this module:

- It reads the files itself, with PyYAML (in the official Airflow image), because the Airflow
  image does not have the ``mdp`` package that validates contracts. It needs one field, the
  dataset's name; whether a contract is sound is ``mdp contracts check``'s business, and the
  setup Job runs it before anything uses the contracts. It reads them as strictly as the steps
  do: a key written twice in one mapping is refused (PyYAML would keep the last ``dataset:``), so
  the DAGs never dispatch a dataset the steps would refuse to run.
- It is called per dispatch, never cached at import: Kubernetes updates a mounted ConfigMap in
  place (within about a minute), and the next sweep or event then sees the new dataset.

A file that cannot be read, is not YAML, or has no valid ``dataset:`` is logged and skipped: one
bad file must not stop the other datasets, nor break the parsing of a DAG file.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

from mdp_dags.platform import CONTRACT_FILES, DATASET_NAME

log = logging.getLogger(__name__)

# Each contract is one *.yaml file; a ConfigMap volume's own entries (..data, ..<timestamp>)
# start with a dot and are not matched.
PATTERN = CONTRACT_FILES


@cache
def _loader() -> Any:
    """A SafeLoader refusing a key written twice in one mapping, as ``mdp``'s contract loader
    does (``mdp.contracts.loading``)."""
    import yaml

    class RefuseDuplicateKeys(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return RefuseDuplicateKeys


def read_contract(text: str) -> Any:
    """The YAML document of a contract file; a duplicate key is a ``yaml.YAMLError``."""
    import yaml

    return yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader


def dataset_of_file(path: Path) -> str | None:
    """The ``dataset:`` of one contract file, or None (with a warning saying why)."""
    import yaml  # in the Airflow image; imported here so that a DAG file's parse does not need it

    try:
        doc = read_contract(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        log.warning("skipping contract file %s: %s", path, str(e).splitlines()[0] if str(e) else e)
        return None
    name = doc.get("dataset") if isinstance(doc, dict) else None
    if not isinstance(name, str) or not DATASET_NAME.match(name):
        log.warning(
            "skipping contract file %s: `dataset:` must be a lower_snake name, got %r", path, name
        )
        return None
    return name


def datasets_in(directory: Path) -> tuple[str, ...]:
    """Every dataset named by the contract files in ``directory``, sorted, each once (several
    versions of one dataset are several files with the same ``dataset:``)."""
    try:
        paths = sorted(directory.glob(PATTERN))
    except OSError as e:
        log.error("cannot list the contracts in %s: %s; no dataset is dispatched", directory, e)
        return ()
    if not paths:
        log.error("no contract (%s) in %s: no dataset is dispatched", PATTERN, directory)
        return ()
    names = {name for path in paths if (name := dataset_of_file(path)) is not None}
    return tuple(sorted(names))
