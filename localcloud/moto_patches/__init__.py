"""Patches to the embedded moto that the local hub and the tests run against — never production code.

Why this exists
---------------
moto's DynamoDB ``transact_write_items`` (moto 5.2.x, ``DynamoDBBackend.transact_write_items``) protects
itself against a cancelled transaction by ``copy.deepcopy``-ing every table the transaction names — all
of its items and its whole stream history — on *every* call, and by putting those copies back if the
transaction is cancelled. Each transaction therefore costs O(table size): measured at 126 txn/s with 100
items and 28 txn/s with 600 (single-item updates on a table with a GSI and a stream: 59 / 15 / 2 txn/s at
50 / 600 / 5,000 items; patched, ~310-330 txn/s at all three), so a local hub that keeps running gets
slower and slower — the profile of device ingestion shows ``copy.deepcopy`` on top at ~150 items.

:func:`install` replaces that method with one that remembers only what a transaction can change:

* each item the transaction touches, by table and key, *before* the first operation on it — a deep
  copy of the item, or "absent" when there was none;
* each touched table's stream shard: its list of records and that list's length.

On any failure it puts exactly those items back (re-inserting, replacing, or deleting so that absent
stays absent) and truncates the stream records back to the saved length. Everything else is moto's own
code: the operations run through the backend's ``put_item`` / ``update_item`` / ``delete_item`` and the
same condition-expression code, and the errors are the same (``TransactionCanceledException`` with the
same cancellation reasons, the same validation errors). Secondary indexes need no undo of their own:
moto keeps no index structures, it computes GSI/LSI results from ``Table.items`` on every query and scan
(the lookup of :mod:`~localcloud.moto_patches.index_query` re-reads each item the rollback puts back); nor
does it keep an item count or size (``ItemCount`` is ``len(table)``, ``TableSizeBytes`` is a constant 0).

Where this differs from moto, it is on purpose (each a moto bug that the deep copy causes or hides):

* the table objects are no longer swapped for copies on a rollback, so shard iterators handed out
  before a cancelled transaction keep reading the live stream (with moto they go on reading the
  discarded copy: they see the cancelled writes and never see later ones);
* a table named by its ARN is rolled back too (moto only snapshots tables named by name);
* a transaction rejected mid-way because an entry holds several operations
  (``TransactWriteSingleOpException``) is rolled back too (moto leaves the earlier writes in place).

Unchanged limits: moto takes no lock, so a write that another request thread makes to an item a cancelled
transaction touched is undone with it (moto would undo every write to the whole table); records already
handed to a moto-Lambda event source mapping during a cancelled transaction cannot be recalled.

Query: per partition, not per table
-----------------------------------
moto's ``Table.query`` on the base table (no index) finds the partition by walking ``Table.all_items()``
— which lists *every* item of the table and sorts them — and keeping those with the queried hash key, so
one query of a 50-item partition costs O(table · log table): seconds once a local hub holds a few
hundred thousand items (a wallet's entries, a resident's weigh-ins, the admin ledger). :func:`install`
wraps it so that, for a base-table query, ``all_items()`` yields only the queried partition; the rest is
moto's own code (sort by range key, paging, filters, projections), so the results are the same. Queries
on secondary indexes: next section.

Query on an index: per index key, not per table
-----------------------------------------------
moto's ``Table.query`` on a GSI or LSI (one code path) walks the same sorted ``Table.all_items()`` and
keeps the items whose attributes equal the queried index key: O(table · log table) per query, whatever
the size of the index partition — a community's partners, a resident's orders, the gsi2 work queues.
Measured (``mock_aws``, boto3 client, one table of 50,000 items inserted in random order, one GSI with
100 hash values of 500 items each): 100 queries with ``Limit=20`` took 317 s with moto (3.2 s each) and
2.6 s patched (26 ms each, plus 0.5 s once, for the first query, to build the lookup); reading whole
500-item partitions, 3.1 s a query with moto and 0.31 s patched — what remains is moto sorting, copying
and serialising the 500 items, as DynamoDB's own cost grows with the partition, not the table.
:func:`install` keeps, per table and per attribute an index query has asked about, a map from value to the
primary keys of the items holding it — built from the items on the first such query, then updated by
re-reading the one item under the key of every write (``Table.put_item`` / ``delete_item``,
``DynamoDBBackend.update_item``, the transaction rollback) — and gives moto's query only those items
(in ``all_items()``'s order); the rest is moto's own code (sparse-index and sort-key checks, order by
the index keys then the table keys, ``ScanIndexForward``, paging, filters, projections), so the results
are the same. How it stays correct: :mod:`~localcloud.moto_patches.index_query`.

SQS: per message, not per queue length
---------------------------------------
moto's SQS (5.2.x) makes every message cost O(messages in the queue), several times over: each
``SendMessage`` builds the queue's full attribute map (``Queue.attributes``) just to read
``ContentBasedDeduplication``, and each message a ``ReceiveMessage`` returns checks its retention period
through ``get_queue_attributes``, which builds that map three times. Building the map counts the
visible, in-flight and delayed messages, asking the clock once per message each time. With a backlog of
a couple of thousand device events, one receive of ten took over 100 ms of CPU and one send ~10 ms —
the embedded AWS slowed down exactly when the hub had the most to do. :func:`install` also:

* reads the retention period from the queue itself in ``is_message_valid_based_on_retention_period``
  (the same value the attribute map holds: ``Queue.message_retention_period``, an int);
* counts visible / in-flight / delayed messages (``Queue.messages`` and the three
  ``approximate_number_of_messages*`` properties) against one clock reading per call instead of one per
  message — the same comparisons (``now > visible_at``, ``now < delayed_until``) against the same clock
  (``moto.core.utils.unix_time_millis``).

Items: sized once, not once per attribute
-----------------------------------------
moto checks DynamoDB's 400 KB item limit in ``LimitedSizeDict.__setitem__`` by re-measuring every
attribute already set, and ``Item.__init__`` sets the attributes one by one: building an item of k
attributes measures k²/2 attributes — half of what a put costs moto for the hub's 15-attribute items.
:func:`install` replaces ``Item.__init__`` with one that keeps the running size instead: the same sizes
(``bytesize(name) + DynamoType.size()``), the same limit, the same ``ItemSizeTooLarge`` at the same
attribute, the same resulting item.

Per request: no directory listing, no class introspection
--------------------------------------------------------
moto's server finds the backend for each request by checking the host against
``moto.backends.list_of_moto_modules()`` — a fresh ``os.listdir`` of moto's package plus a ``stat`` per
entry — and each response class looks up its own method names with ``inspect.getmembers`` on every
request (``moto.core.responses.method_names_from_class``). Neither answer can change while the process
runs; :func:`install` computes each once (about 1 ms of every request: a quarter of a ``GetItem``).

Where each patch lives
----------------------
One module per patch, each independent of the others; :func:`install` and :func:`uninstall` here apply or
undo all of them together:

* :mod:`~localcloud.moto_patches.transactions` — TransactWriteItems with a journal of the touched items;
* :mod:`~localcloud.moto_patches.partition_query` — base-table ``Table.query`` on one partition (the one
  replacement of ``Table.query``: it hands index queries to ``index_query``);
* :mod:`~localcloud.moto_patches.index_query` — index ``Table.query`` on the items under the queried key,
  and the write hooks that keep its lookup current;
* :mod:`~localcloud.moto_patches.sqs_counts` — SQS message counts and the retention check;
* :mod:`~localcloud.moto_patches.item_size` — ``Item.__init__`` with a running size;
* :mod:`~localcloud.moto_patches.request_lookup` — the per-request module list and method names;
* :mod:`~localcloud.moto_patches.registry` — what they share: the lock, moto's replaced originals, and
  the source hash that tells when moto's mirrored code has changed.

It is used only by ``localcloud`` (the embedded moto server) and by tests, in this process, against
moto's in-memory backend. It has no effect on, and is never imported by, anything deployed.
"""

from __future__ import annotations

from typing import Any

from localcloud.moto_patches import (
    index_query,
    item_size,
    partition_query,
    registry,
    request_lookup,
    sqs_counts,
    transactions,
)

__all__ = ["install", "installed", "uninstall"]


def _class_replacements() -> dict[tuple[type, str], Any]:
    return {
        **partition_query.class_replacements(),
        **item_size.class_replacements(),
        **sqs_counts.class_replacements(),
        **index_query.class_replacements(),
    }


def install() -> None:
    """Replace moto's ``DynamoDBBackend.transact_write_items``, ``Table.query``, the item write hooks
    (``Table.put_item`` / ``delete_item``, ``DynamoDBBackend.update_item``), the SQS helpers and the
    per-request lookups described above (class- and module-wide, so every backend in this process:
    ``mock_aws`` and ``ThreadedMotoServer`` alike). Calling it again does nothing."""
    with registry.lock:
        if not transactions.patched():
            index_query.warn_if_moto_changed()  # before it replaces the functions it hashes
        registry.classes.install(_class_replacements())
        registry.modules.install({**request_lookup.module_replacements(), **index_query.module_replacements()})
        transactions.patch()


def uninstall() -> None:
    """Put moto's own methods back (tests compare against them) and drop the index lookups."""
    with registry.lock:
        transactions.unpatch()
        registry.classes.uninstall()
        registry.modules.uninstall()
        index_query.forget()


def installed() -> bool:
    return transactions.patched()
