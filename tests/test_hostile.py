"""The hostile user, beyond issue 11's list: flags, run folders and files that are wrong on purpose.

Each test is an attack that, before its fix, hung or allocated without bound (a count of 10**12,
a recipe.json asking for 10**9 layers, an optimizer.npz whose header claims 10**12 floats), ended
in a traceback (a path under a file, a lock file that is a folder, JSON nested 50,000 deep in a
flag), resumed silently wrong (bool or NaN optimizer moments, a negative step, a data position past
the epoch, a BERT checkpoint in a GPT run), wrote through a symbolic link (the lock file), or loaded
and generated nonsense without a word (NaN weights). Now each is a clear error that names the flag,
file or value, or the right result.
"""

import io
import json
import os
import shutil
import time

import numpy as np
import pytest

from tinyllm.cli import main

TINY = ["--n-layer", "1", "--n-head", "2", "--d-model", "16", "--max-len", "48", "--train-docs", "64",
        "--val-docs", "16", "--batch-size", "8", "--eval-every", "2", "--steps", "4", "--quiet"]


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def refused_by_argparse(argv, capsys, *words):
    """argparse refuses the flag (exit status 2) with a message naming it and the words."""
    with pytest.raises(SystemExit) as e:
        main(argv, out=io.StringIO(), err=io.StringIO())
    assert e.value.code == 2
    message = capsys.readouterr().err.splitlines()[-1]
    for word in words:
        assert word in message, message
    return message


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile") / "gpt"
    code, _, err = run(["pretrain", "--out", str(folder), *TINY])
    assert code == 0, err
    return folder


@pytest.fixture(scope="module")
def bert_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile") / "bert"
    code, _, err = run(["pretrain", "--model", "bert", "--out", str(folder), *TINY])
    assert code == 0, err
    return folder


@pytest.fixture
def run_dir(gpt_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(gpt_run, folder)
    return folder


def edit_json(path, edit):
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


# ------------------------------------------------------------------------------ flags


@pytest.mark.parametrize("argv, flag", [
    (["generate", "GPT", "--seed", "-1"], "--seed"),
    (["eval", "GPT", "--seed", "-1"], "--seed"),
    (["app", "qa", "--seed", "-1"], "--seed"),
    (["pretrain", "--seed", "-1"], "--seed"),
    (["prompt", "--task", "tw-sentiment", "--seeds", "13", "-1"], "--seeds"),
    (["generate", "GPT", "--max-new-tokens", "x"], "--max-new-tokens"),
])
def test_seeds_and_counts_that_are_not_non_negative_ints_name_the_flag(argv, flag, capsys):
    # before: numpy's "expected non-negative integer" after the model was loaded, naming no flag
    refused_by_argparse(argv, capsys, flag)


@pytest.mark.parametrize("argv, flag", [
    (["generate", "GPT", "--max-new-tokens", str(10**12)], "--max-new-tokens"),
    (["generate", "GPT", "-n", str(10**9)], "--num-samples"),
    (["eval", "GPT", "--docs", str(10**12)], "--docs"),
    (["app", "qa", "--n", str(10**12)], "--n"),
    (["app", "qa", "--examples", str(10**12)], "--examples"),
    (["prompt", "--task", "tw-sentiment", "--n-test", str(10**9)], "--n-test"),
    (["prompt", "--task", "tw-sentiment", "--k", str(10**9)], "--k"),
    (["prompt", "grid", "--task", "tw-sentiment", "--ks", "4", str(10**9)], "--ks"),
])
def test_counts_that_would_run_or_allocate_without_bound_are_refused(argv, flag, capsys):
    # before: eval --docs 10**12 and generate --max-new-tokens 10**12 ran until memory ran out
    refused_by_argparse(argv, capsys, flag, "at most")


def test_an_empty_corpus_path_is_not_the_current_folder(gpt_run, capsys):
    # before: "" became Path("") = ".", and every file under the working folder was read as text
    refused_by_argparse(["eval", str(gpt_run), "--corpus", "", "--docs", "5"], capsys, "--corpus", "empty")
    from tinyllm.train.pretrain import load_text

    with pytest.raises(ValueError, match="empty"):          # the Python API refuses it too
        load_text("")


def test_mask_prob_for_a_gpt_is_refused_not_ignored(tmp_path):
    code, _, err = run(["pretrain", "--out", str(tmp_path / "r"), "--mask-prob", "0.3", *TINY])
    assert code == 2 and "--mask-prob" in err and not (tmp_path / "r").exists()


def test_out_below_a_file_is_an_error_not_a_traceback(tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, err = run(["pretrain", "--out", str(tmp_path / "file" / "sub"), *TINY])
    assert code == 2 and "file" in err and (tmp_path / "file").read_text() == "x"


# ------------------------------------------------------------------------------ recipes


@pytest.mark.parametrize("sizes", [
    {"n_layer": 10**9}, {"d_model": 10**9, "n_head": 1}, {"max_len": 10**12}, {"n_train_docs": 10**12},
    {"n_val_docs": 10**12}, {"batch_size": 10**9, "corpus": "shakespeare"},
    {"tokenizer": "word", "vocab_size": 10**12},
])
def test_recipes_that_cannot_fit_in_memory_are_refused_before_anything_is_built(sizes):
    from tinyllm.train.pretrain import Recipe

    start = time.perf_counter()
    with pytest.raises(ValueError, match="GiB"):
        Recipe(**sizes).resolved()
    assert time.perf_counter() - start < 1.0


def test_the_default_recipes_fit(monkeypatch):
    from tinyllm.train.pretrain import Recipe, estimate_memory
    from tinyllm.zoo import RECIPES

    for recipe in [Recipe(), Recipe(model="bert"), *RECIPES.values()]:
        assert estimate_memory(recipe.resolved()) < 2 * 2**30


@pytest.mark.parametrize("field, value", [
    ("lr", "x"), ("steps", -1), ("steps", 2.5), ("n_layer", True), ("model", ["gpt"]), ("seed", -3),
    ("weight_decay", float("nan")), ("pack", "yes"), ("corpus", ""), ("dropout", 1.0), ("n_train_docs", 0),
])
def test_recipe_fields_are_type_and_range_checked(field, value):
    from tinyllm.train.pretrain import Recipe

    with pytest.raises(ValueError, match=field):
        Recipe(**{field: value}).resolved()


def test_recipe_json_with_unknown_settings_is_refused():
    from tinyllm.train.pretrain import Recipe

    with pytest.raises(ValueError, match="unknown recipe settings"):
        Recipe.from_dict({"model": "gpt", "evil": 1})


# ------------------------------------------------------------------------------ resume


def resume(folder, *flags):
    return run(["pretrain", "--out", str(folder), "--resume", *flags, "--quiet", "--steps", "6"])


@pytest.mark.parametrize("edit", [
    lambda r: r.update(n_layer=10**9),          # before: built a billion layers
    lambda r: r.update(n_train_docs=10**12),    # before: generated documents until memory ran out
    lambda r: r.update(steps=-1),               # before: accepted
    lambda r: r.update(lr="x"),                 # before: "'<' not supported between ..."
    lambda r: r.update(model=["gpt"]),          # before: "unhashable type: 'list'"
    lambda r: r.update(evil=1),                 # before: silently dropped
])
def test_a_damaged_recipe_json_is_refused_on_resume(run_dir, edit):
    edit_json(run_dir / "recipe.json", edit)
    start = time.perf_counter()
    code, _, err = resume(run_dir)
    assert code == 2 and "recipe.json is damaged" in err, err
    assert time.perf_counter() - start < 10


def test_a_recipe_json_that_is_a_folder_is_refused(run_dir):
    (run_dir / "recipe.json").unlink()
    (run_dir / "recipe.json").mkdir()
    code, _, err = resume(run_dir)
    assert code == 2 and "recipe.json" in err


LATEST = ("checkpoints", "latest")


@pytest.mark.parametrize("edit, words", [
    (lambda s: s.update(step=-5), "step must be an int"),
    (lambda s: s.update(step="6"), "step must be an int"),
    (lambda s: s.update(history="x"), "history must be a list"),
    (lambda s: s.update(evals=[1, 2]), "evals must be a list"),
    (lambda s: s.update(tokens_seen=-1), "tokens_seen"),
    (lambda s: s["data"].update(pos=10**15), "past the end"),
    (lambda s: s["data"].update(pos=-1), "pos must be"),
    (lambda s: s.update(model_class="BERT"), "'BERT' checkpoint"),
])
def test_a_damaged_trainer_state_is_refused_and_best_offered(run_dir, edit, words):
    edit_json(run_dir.joinpath(*LATEST, "trainer_state.json"), edit)
    code, _, err = resume(run_dir)
    assert code == 2 and "cannot resume exactly" in err and words in err, err
    assert "--resume best" in err


def _rewrite_moments(path, change):
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(path, **{k: change(v) for k, v in arrays.items()})


@pytest.mark.parametrize("change, words", [
    (lambda v: v.astype(bool), "expected floating-point moments"),     # before: cast to 0/1, resumed
    (lambda v: v * np.nan, "NaN"),                                     # before: resumed, then diverged
])
def test_optimizer_moments_of_the_wrong_kind_are_refused(run_dir, change, words):
    _rewrite_moments(run_dir.joinpath(*LATEST, "optimizer.npz"), change)
    code, _, err = resume(run_dir)
    assert code == 2 and words in err and "cannot resume exactly" in err, err


def test_an_optimizer_header_claiming_a_huge_array_is_not_allocated(run_dir):
    import zipfile

    path = run_dir.joinpath(*LATEST, "optimizer.npz")
    with np.load(path) as z:
        names = z.files
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }"
    header = header.ljust(117) + "\n"
    blob = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name + ".npy", blob)
    code, _, err = resume(run_dir)          # before: MemoryError (3.6 TiB) or an allocation attempt
    assert code == 2 and "larger than the model allows" in err, err


def test_a_lock_file_that_links_elsewhere_is_not_written_through(run_dir, tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    os.symlink(precious, run_dir / ".tinyllm.lock")
    code, _, err = resume(run_dir)          # before: the link's target was truncated to a PID
    assert code == 2 and "symbolic link" in err
    assert precious.read_text() == "keep me"


def test_a_lock_file_that_is_a_folder_is_an_error(run_dir):
    (run_dir / ".tinyllm.lock").mkdir()
    code, _, err = resume(run_dir)          # before: IsADirectoryError traceback
    assert code == 2 and "is a folder" in err


# ------------------------------------------------------------------------------ model folders


def test_nan_weights_are_refused_not_generated_from(run_dir):
    from safetensors.numpy import load_file, save_file

    path = run_dir / "model.safetensors"
    state = load_file(str(path))
    name = sorted(state)[0]
    state[name] = state[name] * np.float32("nan")
    save_file(state, str(path))
    code, _, err = run(["generate", str(run_dir), "--max-new-tokens", "3"])
    assert code == 2 and "NaN" in err and name in err, err


def test_weights_that_are_a_folder_are_named_as_such(run_dir):
    (run_dir / "model.safetensors").unlink()
    (run_dir / "model.safetensors").mkdir()
    code, _, err = run(["generate", str(run_dir), "--max-new-tokens", "3"])
    assert code == 2 and "not a regular file" in err, err


@pytest.mark.parametrize("content, words", [
    ("garbage", "not valid JSON"),                   # before: read as a one-line BERT vocab.txt
    ("null", "not a tokenizer file"),
    ('{"tinyllm_tokenizer": "word", "version": 99, "words": ["a"]}', "version 99"),   # before: loaded
])
def test_a_tinyllm_tokenizer_json_is_read_as_json(run_dir, content, words):
    (run_dir / "tinyllm_tokenizer.json").write_text(content)
    code, _, err = run(["generate", str(run_dir), "--max-new-tokens", "3"])
    assert code == 2 and words in err and "tinyllm_tokenizer.json" in err, err


def test_a_tokenizer_with_fewer_ids_than_the_model_generates_only_its_ids():
    # a vocabulary padded to a round size (as some Hugging Face models do): the extra embedding rows
    # stand for no token; before, sampling one made decode fail with "ids[0]=... is out of range"
    from tinyllm.data import WordTokenizer
    from tinyllm.generate import generate_text
    from tinyllm.models import GPT, GPTConfig

    tok = WordTokenizer(["a", "b", "c"])
    model = GPT(GPTConfig(vocab_size=tok.vocab_size + 40, n_layer=1, n_head=1, d_model=8, max_len=32), seed=0)
    for seed in range(3):
        text = generate_text(model, tok, "a", max_new_tokens=20, seed=seed, stop_at_eos=False)
        known = {tok.decode([i]) for i in range(tok.vocab_size)}
        assert set(text.split()) <= known


# ------------------------------------------------------------------------------ prompt


def test_label_words_nested_too_deeply_is_an_error(bert_run):
    code, _, err = run(["prompt", "--task", "tw-sentiment", "--model", str(bert_run), "--n-test", "4",
                        "--seeds", "1", "--label-words", "[" * 50_000 + "]" * 50_000])
    assert code == 2 and "--label-words" in err           # before: RecursionError traceback


def test_an_empty_template_text_is_refused_not_replaced_by_the_default(bert_run):
    code, _, err = run(["prompt", "--task", "tw-sentiment", "--model", str(bert_run), "--n-test", "4",
                        "--seeds", "1", "--template-text", ""])
    assert code == 2 and "--template-text" in err


def test_grid_without_methods_takes_every_method(bert_run, tmp_path, monkeypatch):
    # before: NameError (the default list came from a module the grid never imported)
    import tinyllm.prompt.grid as grid
    from tinyllm.prompt import methods as M

    seen = {}
    monkeypatch.setattr(grid, "run_grid", lambda task, name, methods, *a, **k: seen.update(methods=methods) or [])
    monkeypatch.setattr(grid, "markdown_table", lambda rows: "")
    code, _, err = run(["prompt", "grid", "--task", "tw-sentiment", "--model", str(bert_run), "--ks", "0",
                        "--seeds", "1", "--out", str(tmp_path / "g.json")])
    assert code == 0, err
    assert seen["methods"] == list(M.METHODS)


@pytest.mark.parametrize("out, words", [("file/grid.json", "is a file"), ("", "empty"), (".", "a folder")])
def test_grid_out_that_cannot_be_a_file_is_refused_before_running(bert_run, tmp_path, out, words):
    (tmp_path / "file").write_text("x")
    path = out if out in ("", ".") else str(tmp_path / out)
    code, _, err = run(["prompt", "grid", "--task", "tw-sentiment", "--model", str(bert_run), "--ks", "0",
                        "--methods", "zero-shot", "--seeds", "1", "--n-test", "4", "--out", path])
    assert code == 2 and "--out" in err and words in err, err


@pytest.mark.parametrize("argv, words", [
    (["--methods", "zero-shot"], "--methods"),                  # before: ignored, zero-shot ran anyway
    (["--out", "g.json"], "--out"),
    (["grid", "--method", "pet", "--ks", "0", "--out", "g.json"], "--method"),
    (["grid", "--template-text", "{x} {mask}", "--ks", "0", "--out", "g.json"], "--template-text"),
])
def test_flags_of_the_other_prompt_action_are_refused_not_ignored(bert_run, argv, words):
    action = argv[:1] if argv[0] == "grid" else []
    code, _, err = run(["prompt", *action, "--task", "tw-sentiment", "--model", str(bert_run), "--n-test", "4",
                        *argv[len(action):], "--seeds", "1"])
    assert code == 2 and words in err, err


def test_a_corpus_larger_than_memory_is_refused_before_reading(tmp_path):
    from tinyllm.data.text import load_corpus

    big = tmp_path / "big.txt"
    with open(big, "wb") as f:          # sparse: 2 TiB of size, no disk used
        f.truncate(2**41)
    with pytest.raises(ValueError, match="GiB"):
        load_corpus(big)                # before: read_bytes tried to read 2 TiB
    code, _, err = run(["pretrain", "--out", str(tmp_path / "r"), "--corpus", str(big), *TINY])
    assert code == 2 and "smaller corpus" in err and not (tmp_path / "r").exists()


def test_thread_counts_are_bounded(capsys):
    refused_by_argparse(["generate", "GPT", "--threads", "100000"], capsys, "--threads", "at most")


def test_a_damaged_zoo_cache_says_how_to_rebuild(gpt_run, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYLLM_HOME", str(tmp_path / "home"))
    cached = tmp_path / "home" / "models" / "tinyworld-gpt"
    shutil.copytree(gpt_run, cached)
    (cached / "model.safetensors").write_bytes(b"garbage")
    code, _, err = run(["generate", "tinyworld-gpt", "--max-new-tokens", "3"])
    assert code == 2 and str(cached) in err and "delete that folder" in err, err


def test_sparse_files_that_claim_terabytes_are_refused_before_reading(run_dir):
    from tinyllm.runtime import physical_memory

    huge = 2 * physical_memory()
    for name in ("model.safetensors", "checkpoints/latest/trainer_state.json"):
        with open(run_dir / name, "r+b") as f:          # sparse: no disk used
            f.truncate(huge)
    code, _, err = run(["generate", str(run_dir), "--max-new-tokens", "3"])
    assert code == 2 and "bytes of weights, more than" in err, err
    code, _, err = resume(run_dir)
    assert code == 2 and "trainer_state.json" in err and "accepts" in err, err


@pytest.mark.parametrize("word", ["", " ", "a b", "a\n"])
def test_a_word_tokenizer_word_is_one_word(word):
    from tinyllm.data import WordTokenizer

    with pytest.raises(ValueError, match=r"words\[1\]"):     # before: accepted, an id no text encodes to
        WordTokenizer(["a", word, "c"])


@pytest.mark.parametrize("key, value", [("eos_token_id", -5), ("bos_token_id", 10**9), ("pad_token_id", "x"),
                                        ("eos_token_id", [6, 10**9])])
def test_config_special_token_ids_must_be_ids_of_the_model(run_dir, key, value):
    edit_json(run_dir / "config.json", lambda c: c.update({key: value}))
    code, _, err = run(["generate", str(run_dir), "--max-new-tokens", "3"])   # before: accepted
    assert code == 2 and key in err and "config.json" in err, err


def test_a_tokenizer_smaller_than_the_model_is_said(run_dir):
    (run_dir / "tinyllm_tokenizer.json").write_text('{"tinyllm_tokenizer": "word", "words": ["a"]}')
    code, out, err = run(["generate", str(run_dir), "--max-new-tokens", "5"])
    assert code == 0 and "stand for no token" in err, err     # before: "ids[0]=661 is out of range"


def test_an_unreadable_file_is_an_error_naming_it(run_dir, monkeypatch):
    # root reads any file, so the permission error is simulated where config.json is opened
    import tinyllm.jsonfile as jsonfile

    real = jsonfile.read_bytes

    def denied(path, *args, **kwargs):
        if str(path).endswith("config.json"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(jsonfile, "read_bytes", denied)
    code, _, err = run(["generate", str(run_dir), "--max-new-tokens", "3"])   # before: a traceback
    assert code == 2 and "Permission denied" in err and "config.json" in err, err


# ------------------------------------------------------------------------------ round 4


def test_eval_on_a_text_too_short_to_score_is_an_error(gpt_run, tmp_path):
    # before: ZeroDivisionError traceback from the window batches
    for text in ("a", "ab"):
        (tmp_path / "short.txt").write_text(text)
        code, _, err = run(["eval", str(gpt_run), "--corpus", str(tmp_path / "short.txt")])
        assert code == 2 and "short.txt" in err and "at least 2" in err, err


def test_pretrain_on_a_text_shorter_than_one_window_names_the_corpus(tmp_path):
    # before: "tokens: expected a 1-D stream of at least block_size+1=49 tokens", no file named
    (tmp_path / "short.txt").write_text("ab" * 30)        # 60 characters: 57 training, 3 validation
    code, _, err = run(["pretrain", "--corpus", str(tmp_path / "short.txt"), "--out", str(tmp_path / "r"),
                        "--steps", "2", "--max-len", "16", "--quiet"])
    assert code == 2 and "short.txt's validation part has 3 tokens" in err and "--max-len 16" in err, err


def test_resume_with_fewer_steps_than_done_is_refused_and_changes_nothing(run_dir):
    # before: "--steps 2 replaces 4", exit 0, recipe.json said 2 steps for a model of 4
    before = (run_dir / "recipe.json").read_text()
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume", "--steps", "2", "--quiet"])
    assert code == 2 and "--steps 2 is fewer than the 4 steps" in err, err
    assert (run_dir / "recipe.json").read_text() == before
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume", "--steps", "4", "--quiet"])
    assert code == 0 and "nothing to train" in err, err


@pytest.mark.parametrize("edit, words", [
    (lambda r: r.update(model="bert"), "'GPT' checkpoint, this run trains a BERT"),
    (lambda r: r.update(max_len=24), "'pos_emb'"),
])
def test_a_recipe_that_does_not_describe_the_checkpoints_is_named(run_dir, edit, words):
    # before: "checkpoints/best is complete: continue from it with --resume best", which failed alike
    edit_json(run_dir / "recipe.json", edit)
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume", "--quiet"])
    assert code == 2 and "recipe.json does not describe the model" in err and words in err, err
    assert "--resume best" not in err


def test_resume_on_a_corpus_file_that_changed_is_refused(tmp_path):
    # before: a corpus edited after the run started (here: the same number of distinct characters,
    # so the same shapes) resumed silently, on other ids and other text
    corpus = tmp_path / "corpus.txt"
    words = "the cat sat on a mat and ate fish while dogs barked loudly at night".split()
    text = " ".join(words[(i * 7) % len(words)] for i in range(3000))
    corpus.write_text(text)
    flags = [f if f != "48" else "32" for f in TINY]
    code, _, err = run(["pretrain", "--out", str(tmp_path / "r"), "--corpus", str(corpus), *flags])
    assert code == 0, err
    assert (tmp_path / "r" / "data_fingerprint.json").exists()
    corpus.write_text(text.replace("a", "Q"))
    code, _, err = run(["pretrain", "--out", str(tmp_path / "r"), "--resume", "--steps", "6", "--quiet"])
    assert code == 2 and "the data are not the ones this run was trained on" in err, err
    corpus.write_text(text)
    code, _, err = run(["pretrain", "--out", str(tmp_path / "r"), "--resume", "--steps", "6", "--quiet"])
    assert code == 0, err


def test_a_run_without_a_data_fingerprint_resumes_with_a_note(run_dir):
    (run_dir / "data_fingerprint.json").unlink()
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume", "--steps", "6", "--quiet"])
    assert code == 0 and "cannot be checked" in err, err


def test_an_unknown_backend_leaves_no_folder_behind(tmp_path):
    # before: the folder was made and recipe.json written, then the backend refused; the same
    # command again said "not empty; pass --resume", and --resume "no checkpoint"
    out = tmp_path / "r"
    code, _, err = run(["pretrain", "--out", str(out), "--backend", "bogus", *TINY])
    assert code == 2 and "backend: 'bogus' is not available" in err, err
    assert not out.exists()


@pytest.mark.parametrize("argv, flag", [
    (["pretrain", "--out", ""], "--out"),            # before: silently runs/gpt-tinyworld
    (["pretrain", "--corpus", " "], "--corpus"),
    (["generate", ""], "model"),                     # before: the working folder, read as a model
    (["eval", "GPT", "--corpus", ""], "--corpus"),
    (["app", "qa", "--model", ""], "--model"),
    (["demo", "--out", ""], "--out"),
    (["prompt", "--task", "tw-sentiment", "--model", ""], "--model"),   # before: the default model
])
def test_empty_names_and_paths_are_refused(argv, flag, capsys):
    refused_by_argparse(argv, capsys, flag, "empty string")


def test_min_lr_is_a_flag_as_the_help_says(run_dir):
    # before: the help and the README listed --min-lr among the flags a resume may change; argparse
    # did not know it
    code, _, err = run(["pretrain", "--out", str(run_dir), "--resume", "--steps", "6", "--min-lr", "0.001"])
    assert code == 0 and "--min-lr 0.001 replaces" in err, err
    assert json.loads((run_dir / "recipe.json").read_text())["min_lr"] == 0.001


# ------------------------------------------------------------------------------ the Python API, round 4


@pytest.fixture(scope="module")
def tiny_gpt(gpt_run):
    from tinyllm.data import load_tokenizer
    from tinyllm.models import GPT

    return GPT.from_pretrained(gpt_run), load_tokenizer(gpt_run)


WORDS = {"negative": ["awful"], "positive": ["great"]}
EXAMPLES = [("review : I ate soup .", "positive"), ("review : dull .", "negative")]


def _bounded(call, match):
    """``call`` is refused with ValueError(match) at once, having allocated next to nothing."""
    import tracemalloc

    start = time.perf_counter()
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match):
            call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000 and time.perf_counter() - start < 5


def test_a_template_asking_for_a_billion_soft_vectors_is_refused(tiny_gpt):
    # before: compile() built a list of 10**9 entries (minutes, gigabytes)
    from tinyllm.prompt import PromptModel

    gpt, tok = tiny_gpt
    for slot in ("{soft*1000000000}", "{trigger*1000000000}", "{soft*48}"):
        _bounded(lambda: PromptModel(gpt, tok, "{x} " + slot + " {mask} .", WORDS), "more than fit in the model's context")


def test_fit_with_a_batch_of_a_billion_is_refused(tiny_gpt):
    # before: a queue of 10**9 shuffled indices was built (a batch may span epochs)
    from tinyllm.prompt import PromptModel, fit

    gpt, tok = tiny_gpt
    pm = PromptModel(gpt, tok, "{x} it was {mask} .", WORDS)
    _bounded(lambda: fit(pm, EXAMPLES, steps=1, lr=1e-2, batch_size=10**9), "batch_size must be at most")
    assert len(fit(pm, EXAMPLES, steps=1, lr=1e-2, batch_size=8)) == 1        # larger than the set: fine


@pytest.mark.parametrize("config, words", [
    (lambda P: P.PromptTuningConfig(num_virtual_tokens=10**9), "num_virtual_tokens=1,000,000,000 is more than"),
    (lambda P: P.PrefixTuningConfig(num_virtual_tokens=10**9), "num_virtual_tokens"),
    (lambda P: P.PrefixTuningConfig(num_virtual_tokens=4, encoder_hidden_size=10**9), "encoder_hidden_size"),
    (lambda P: P.PromptEncoderConfig(num_virtual_tokens=4, encoder_hidden_size=10**9), "encoder_hidden_size"),
])
def test_peft_modules_too_large_to_mean_are_refused_before_allocating(tiny_gpt, config, words):
    # before: numpy's MemoryError ("Unable to allocate 119. GiB") from deep inside the builder
    import tinyllm.prompt as P

    gpt, tok = tiny_gpt
    _bounded(lambda: P.PromptModel(gpt, tok, "{x} it was {mask} .", WORDS, peft=config(P)), words)


def test_generate_bounds_its_length_and_names_a_bad_seed(tiny_gpt):
    from tinyllm.generate import generate

    gpt, tok = tiny_gpt
    _bounded(lambda: generate(gpt, [tok.bos_id], max_new_tokens=10**12), r"max_new_tokens: expected an int in \[0, 1,000,000\]")
    with pytest.raises(ValueError, match="seed: expected an int >= 0"):      # before: numpy's message
        generate(gpt, [tok.bos_id], max_new_tokens=2, seed=-1)


def test_a_classifier_of_a_trillion_labels_is_refused(tiny_gpt, tmp_path):
    # before: MemoryError allocating the (C, 10**9) head; from a config.json's num_labels too
    from tinyllm.models import BERT, BERTClassifier, BERTConfig, GPTClassifier

    gpt, _ = tiny_gpt
    _bounded(lambda: GPTClassifier.from_model(gpt, num_labels=10**9), "num_labels must be at most")
    BERT(BERTConfig(vocab_size=20, n_layer=1, n_head=1, d_model=8, max_len=8)).save_pretrained(tmp_path / "b")
    edit_json(tmp_path / "b" / "config.json", lambda c: c.update(num_labels=10**12))
    _bounded(lambda: BERTClassifier.from_pretrained(tmp_path / "b"), "num_labels must be at most")


def test_a_repeated_seed_or_k_is_refused_not_counted_twice(bert_run, capsys):
    # before: --seeds 1 1 reported "accuracy: ... (2 seeds)", the same run counted twice in mean ± std
    common = ["--task", "tw-sentiment", "--model", str(bert_run), "--n-test", "4"]
    for argv, flag in ((["prompt", *common, "--method", "zero-shot", "--seeds", "1", "1"], "--seeds"),
                       (["prompt", "grid", *common, "--methods", "zero-shot", "--ks", "0", "0", "--seeds", "1"], "--ks")):
        code, _, err = run(argv)
        assert code == 2 and f"{flag}: " in err and "more than once" in err, err


def test_a_grid_file_of_another_n_test_is_not_averaged_in(bert_run, tmp_path):
    # before: the table averaged the --n-test 4 rows already in the file with the new --n-test 8 rows
    grid = ["prompt", "grid", "--task", "tw-sentiment", "--model", str(bert_run), "--methods", "zero-shot",
            "--ks", "0", "--seeds", "1", "--out", str(tmp_path / "g.json")]
    code, _, err = run([*grid, "--n-test", "4"])
    assert code == 0, err
    code, _, err = run([*grid, "--n-test", "8"])
    assert code == 2 and "with --n-test 4, not 8" in err, err
    assert all(r["n_test"] == 4 for r in json.loads((tmp_path / "g.json").read_text())["rows"])


def test_two_grids_on_one_file_do_not_lose_rows(bert_run, tmp_path):
    # before: each process read the file at its start and rewrote it after every run, so the rows of
    # the one that finished first were lost; now the second is refused while the first runs
    from tinyllm.train.runlock import RunLock

    out = tmp_path / "g.json"
    holder = RunLock(tmp_path, name=".g.json.lock", what=str(out)).acquire()    # a grid in progress
    try:
        code, _, err = run(["prompt", "grid", "--task", "tw-sentiment", "--model", str(bert_run), "--methods",
                            "zero-shot", "--ks", "0", "--seeds", "1", "--n-test", "4", "--out", str(out)])
        assert code == 2 and "is in use by another tinyllm process" in err and "g.json" in err, err
    finally:
        holder.release()
    code, _, err = run(["prompt", "grid", "--task", "tw-sentiment", "--model", str(bert_run), "--methods",
                        "zero-shot", "--ks", "0", "--seeds", "1", "--n-test", "4", "--out", str(out)])
    assert code == 0 and out.exists() and not (tmp_path / ".g.json.lock").exists(), err


def test_greedy_with_sampling_options_is_refused_not_ignored(gpt_run):
    # before: --greedy --temperature 2 ran greedy and ignored the temperature without a word
    for flags in (["--temperature", "2"], ["--top-k", "5"], ["--top-p", "0.5"]):
        code, _, err = run(["generate", str(gpt_run), "--greedy", *flags, "--max-new-tokens", "2"])
        assert code == 2 and flags[0] in err and "--greedy" in err, err
    code, out, err = run(["generate", str(gpt_run), "--greedy", "--max-new-tokens", "2"])
    assert code == 0, err
    code, out, err = run(["generate", str(gpt_run), "--temperature", "0.5", "--max-new-tokens", "2"])
    assert code == 0, err
