import numpy as np
import pytest

from core.batches import BatchConfig, sample_batches
from core.errors import CorpusError
from core.probe import load_probe
from tests.conftest import MemoryCorpus


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    return load_probe(tiny_model_dir, device="cpu").tokenizer


def test_deterministic_shapes_and_padding(tok, maths_texts):
    c = MemoryCorpus("m", maths_texts)
    cfg = BatchConfig(batch_size=8, seq_len=32, num_batches=3, seed=1)
    a, b = sample_batches(c, tok, cfg), sample_batches(c, tok, cfg)
    assert [x.content_hash() for x in a] == [x.content_hash() for x in b]
    for x in a:
        assert x.input_ids.shape == (8, 32) and x.input_ids.dtype == np.int64
        assert set(np.unique(x.attention_mask)) <= {0, 1}
        assert np.all(x.input_ids[x.attention_mask == 0] == tok.pad_token_id)
        # right padding: once padding starts in a row it never stops
        assert np.all(np.diff(x.attention_mask, axis=1) <= 0)


def test_batches_really_differ_and_are_disjoint(tok, maths_texts):
    batches = sample_batches(MemoryCorpus("m", maths_texts), tok, BatchConfig(batch_size=8, seq_len=32, num_batches=4))
    hashes = {b.content_hash() for b in batches}
    assert len(hashes) == 4
    docs = [d for b in batches for d in b.doc_ids]
    assert len(set(docs)) == len(docs)


def test_prefix_stable_and_seed_sensitive(tok, maths_texts):
    c = MemoryCorpus("m", maths_texts)
    three = sample_batches(c, tok, BatchConfig(batch_size=4, seq_len=16, num_batches=3))
    five = sample_batches(c, tok, BatchConfig(batch_size=4, seq_len=16, num_batches=5))
    assert [b.content_hash() for b in three] == [b.content_hash() for b in five[:3]]
    other = sample_batches(c, tok, BatchConfig(batch_size=4, seq_len=16, num_batches=3, seed=9))
    assert three[0].content_hash() != other[0].content_hash()


def test_more_batches_than_documents_still_differ(tok):
    c = MemoryCorpus("small", [f"document number {i} " * 40 for i in range(6)])
    batches = sample_batches(c, tok, BatchConfig(batch_size=4, seq_len=16, num_batches=6))
    assert len({b.content_hash() for b in batches}) == 6


def test_long_documents_are_windowed_at_varied_offsets(tok):
    c = MemoryCorpus("long", [" ".join(f"w{i}_{j}" for j in range(400)) for i in range(20)])
    b = sample_batches(c, tok, BatchConfig(batch_size=10, seq_len=16, num_batches=1))[0]
    assert b.attention_mask.all() and len(set(b.offsets)) > 3


def test_corpus_smaller_than_a_batch_is_a_clear_error(tok):
    with pytest.raises(CorpusError, match=r"'tiny' has 3 documents, fewer than one batch of 8.*--batch-size"):
        sample_batches(MemoryCorpus("tiny", ["a b", "c d", "e f"]), tok, BatchConfig(batch_size=8, seq_len=16))


def test_bad_config_is_rejected():
    with pytest.raises(ValueError):
        BatchConfig(batch_size=0)
    with pytest.raises(ValueError):
        BatchConfig(seq_len=1)


# -- few long documents (issue 13) ---------------------------------------------------------------

def _lean_file(k: int, n: int = 240) -> str:
    return "\n\n".join(f"theorem file{k}_thm{i} (a b : Nat) (h : a ≤ b) : a + {i} ≤ b + {i} := by\n"
                       f"  exact Nat.add_le_add_right h {i}" for i in range(n))


def test_two_long_files_give_many_windows(tok):
    c = MemoryCorpus("two-lean", [_lean_file(0), _lean_file(1)])
    batches = sample_batches(c, tok, BatchConfig(batch_size=16, seq_len=128, num_batches=5))
    assert len(batches) == 5 and all(b.input_ids.shape == (16, 128) for b in batches)
    rows = [(d, o) for b in batches for d, o in zip(b.doc_ids, b.offsets)]
    assert len(set(rows)) == len(rows) == 80                # 80 distinct windows from 2 documents
    assert len({d for d, _ in rows}) == 2
    assert len({o for _, o in rows}) > 40
    assert all(b.attention_mask.sum() > 16 * 100 for b in batches)
    again = sample_batches(c, tok, BatchConfig(batch_size=16, seq_len=128, num_batches=5))
    assert [b.content_hash() for b in again] == [b.content_hash() for b in batches]


def test_long_document_offsets_point_at_the_window(tok):
    doc = _lean_file(3, 60)
    c = MemoryCorpus("one-lean", [doc])
    ids = tok(doc, add_special_tokens=False)["input_ids"]
    b = sample_batches(c, tok, BatchConfig(batch_size=4, seq_len=32, num_batches=2))[1]
    for row, off in zip(b.input_ids, b.offsets):
        assert list(row) == ids[off:off + 32]


def test_few_short_documents_are_still_a_clear_error(tok):
    with pytest.raises(CorpusError, match=r"has 2 documents, fewer than one batch of 8 sequences, and they hold only 2 windows"):
        sample_batches(MemoryCorpus("short", ["a b c", "d e f"]), tok, BatchConfig(batch_size=8, seq_len=16))


def test_corpora_with_enough_documents_keep_their_batches(tok):
    """Batches (hence embedding cache keys) made before long-document support are unchanged: hashes
    pinned with the code of commit 0fb06b8."""
    texts = [f"theorem t{i} (n : Nat) : n + {i} = {i} + n := by omega -- " + " ".join(f"w{i}_{j}" for j in range(i * 7 % 90))
             for i in range(40)]
    c = MemoryCorpus("pin", texts)
    got = [b.content_hash()[:16] for b in sample_batches(c, tok, BatchConfig(batch_size=8, seq_len=32, num_batches=7, seed=3))]
    assert got == ['bda85e30baaae6f3', '7c687d34586beaa3', 'a02ce7ea4b70002a', 'c7ea6aff95174e94', '7658c9a5ea80598b',
                   'e5d1c9b8c0f6eba3', '076335fbe8119680']
    got = [b.content_hash()[:16] for b in sample_batches(c, tok, BatchConfig(batch_size=16, seq_len=16, num_batches=3))]
    assert got == ['eac55664fbf2a290', '02badd314b7b5a09', '3c20d558d4266f40']
