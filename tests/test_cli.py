import pytest

from snnbench.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv, lists", [
    (["run", "--method", "sgdx"], ["stbp", "stbp-tdbn"]),
    (["run", "--dataset", "imagenet"], ["mnist", "nmnist-1k", "cifar10-dvs"]),
    (["run", "--arch", "vgg99"], ["cnn1", "resnet19"]),
    (["data", "check", "svhn"], ["digits", "fashion-mnist"]),
])
def test_unknown_names_exit_2_with_the_valid_names(capsys, argv, lists):
    code, _, err = run(capsys, *argv)
    assert code == 2
    for name in lists:
        assert name in err


def test_bad_architecture_exits_2_with_position(capsys):
    code, _, err = run(capsys, "run", "--arch", "15C5-P2-4xC5")
    assert code == 2 and "at character 9" in err.replace("\n", "")


def test_bad_set_key_exits_2(capsys):
    code, _, err = run(capsys, "run", "--set", "treshold=1")
    assert code == 2 and "threshold" in err


def test_bad_flag_exits_2(capsys):
    assert main(["run", "--epochs", "two"]) == 2  # main returns every exit code; it never raises SystemExit
    assert "invalid int value: 'two'" in capsys.readouterr().err
    assert main(["run", "--help"]) == 0


def test_list_shows_methods_datasets_archs_and_recipes(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    code, out, _ = run(capsys, "list")
    assert code == 0
    for word in ("stbp", "nmnist-1k", "cifar10-jpeg", "resnet19", "15C5-P2-40C5-P2-300"):
        assert word in out


def test_data_check_names_missing_files_and_exits_1(capsys, tmp_path):
    code, out, _ = run(capsys, "data", "check", "nmnist", "--data-dir", str(tmp_path), "--mirror", str(tmp_path))
    assert code == 1 and "train.zip" in out and "20959b8e626244a1b502305a9e6e2031" in out.replace("\n", "")


def test_data_check_finds_the_mirror(capsys, mirror, tmp_path):
    code, out, _ = run(capsys, "data", "check", "mnist", "--data-dir", str(tmp_path), "--mirror", str(mirror))
    assert code == 0 and out.count("ok") == 4


def test_corrupt_mirror_fails_the_run_with_exit_1(capsys, tmp_path):
    bad = tmp_path / "mirror" / "MNIST"
    bad.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (bad / name).write_bytes(b"junk")
    code, _, err = run(capsys, "run", "--dataset", "mnist", "--mirror", str(tmp_path / "mirror"),
                       "--data-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "runs"), "--device", "cpu")
    assert code == 1 and "corrupt, refused" in err and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in err.replace("\n", "")
    assert not (tmp_path / "runs").exists()
