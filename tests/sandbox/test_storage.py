"""DocumentStore: memory reads, write-through to SQLite, state that survives a reopen."""

from __future__ import annotations

import threading
from pathlib import Path

from forcebridge.sandbox.storage import DocumentStore


def test_documents_survive_closing_and_reopening_the_file(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "state.db")
    store.put("issues", "10000", {"key": "PROJ-1", "fields": {"summary": "first"}})
    store.put("issues", "10001", {"key": "PROJ-2", "fields": {"summary": "second"}})
    store.close()

    reopened = DocumentStore(tmp_path / "state.db")

    assert reopened.persistent
    assert reopened.get("issues", "10000") == {"key": "PROJ-1", "fields": {"summary": "first"}}
    assert reopened.count("issues") == 2
    reopened.close()


def test_updates_and_deletes_survive_a_reopen(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "state.db")
    store.put("cases", "a", {"Subject": "old"})
    store.put("cases", "b", {"Subject": "gone soon"})
    store.put("cases", "a", {"Subject": "new"})
    assert store.delete("cases", "b") is True
    store.close()

    reopened = DocumentStore(tmp_path / "state.db")

    assert reopened.get("cases", "a") == {"Subject": "new"}
    assert reopened.get("cases", "b") is None
    reopened.close()


def test_insertion_order_is_kept_across_a_reopen_even_after_updates(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "state.db")
    for key in ("c", "a", "b"):
        store.put("items", key, {"key": key})
    store.put("items", "c", {"key": "c", "updated": True})
    store.close()

    reopened = DocumentStore(tmp_path / "state.db")

    assert [document["key"] for document in reopened.values("items")] == ["c", "a", "b"]
    reopened.close()


def test_sequences_continue_after_a_reopen_instead_of_reusing_ids(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "state.db")
    assert [store.next_sequence("issue", start=10000) for _ in range(3)] == [10000, 10001, 10002]
    store.close()

    reopened = DocumentStore(tmp_path / "state.db")

    assert reopened.next_sequence("issue", start=10000) == 10003
    reopened.close()


def test_clear_empties_memory_and_file(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "state.db")
    store.put("items", "a", {})
    store.next_sequence("items")
    store.clear()
    store.close()

    reopened = DocumentStore(tmp_path / "state.db")

    assert reopened.count("items") == 0
    assert reopened.next_sequence("items") == 1
    reopened.close()


def test_in_memory_store_keeps_nothing_between_instances() -> None:
    store = DocumentStore()
    store.put("items", "a", {"value": 1})

    assert not store.persistent
    assert store.get("items", "a") == {"value": 1}
    assert DocumentStore().get("items", "a") is None


def test_values_is_a_snapshot_that_tolerates_writes_while_iterating() -> None:
    store = DocumentStore()
    for key in "abc":
        store.put("items", key, {"key": key})

    seen = []
    for document in store.values("items"):
        seen.append(document["key"])
        store.delete("items", document["key"])
        store.put("items", document["key"] + "2", {"key": document["key"] + "2"})

    assert seen == ["a", "b", "c"]
    assert store.count("items") == 3


def test_missing_parent_directory_is_created(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "deep" / "nested" / "state.db")
    store.put("items", "a", {})
    store.close()

    assert (tmp_path / "deep" / "nested" / "state.db").is_file()


def test_concurrent_sequences_never_hand_out_the_same_number(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "state.db")
    handed_out: list[int] = []
    lock = threading.Lock()

    def take_many() -> None:
        for _ in range(200):
            value = store.next_sequence("ids")
            with lock:
                handed_out.append(value)

    threads = [threading.Thread(target=take_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()

    assert sorted(handed_out) == list(range(1, 801))


def test_a_reopen_sees_each_document_as_it_was_when_put(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "state.db")
    document = {"Subject": "as written"}
    store.put("cases", "a", document)
    document["Subject"] = "mutated after put"
    store.close()

    reopened = DocumentStore(tmp_path / "state.db")

    # The file holds what was written at put(); callers must put() again after mutating.
    assert reopened.get("cases", "a") == {"Subject": "as written"}
    reopened.close()
