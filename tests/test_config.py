import pytest

from pi_vision import cli
from pi_vision.config import Config, from_dict
from pi_vision.errors import UserError


@pytest.mark.parametrize("data, message", [
    ({"detector": {"thread": 2}}, "unknown key detector.thread"),
    ({"camera": {}}, "unknown key camera"),
    ({"detector": {"threads": "two"}}, "detector.threads: expected an integer"),
    ({"detector": {"threads": -1}}, "detector.threads: must be >= 0"),
    ({"detector": {"score_threshold": 1.5}}, "detector.score_threshold: must be in 0..1"),
    ({"detector": {"resize": "crop"}}, "detector.resize: 'crop' is not one of stretch, letterbox"),
    ({"source": {"realtime": "yes"}}, "source.realtime: expected true or false"),
    ({"source": {"fps": 0}}, "source.fps: must be > 0"),
    ({"monitor": {"log_format": "xml"}}, "monitor.log_format"),
    ({"monitor": 5}, "monitor: expected a mapping"),
    ([1, 2], "the top level: expected a mapping"),
])
def test_bad_config_names_the_key_path(data, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_dict(data)


@pytest.mark.parametrize("data, path, expected", [
    ({}, ("detector", "model"), "ssd_mbv1_1.0_224"),
    ({"source": {"spec": 0}}, ("source", "spec"), "0"),  # a bare camera index in YAML
    ({"source": {"fps": 15}}, ("source", "fps"), 15.0),
    ({"run": {"max_frames": 10}}, ("run", "max_frames"), 10),
])
def test_good_config_values(data, path, expected):
    config = from_dict(data)
    assert getattr(getattr(config, path[0]), path[1]) == expected


def test_flags_override_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("detector:\n  threads: 3\n  score_threshold: 0.4\nsource:\n  spec: demo\n")
    args = cli.build_parser().parse_args(["--config", str(path), "--threads", "1"])
    config = cli.build_config(args)
    assert config.detector.threads == 1
    assert config.detector.score_threshold == 0.4
    assert config.source.spec == "demo"


@pytest.mark.parametrize("flags, path, expected", [
    (["--model", "m.tflite"], ("detector", "model"), "m.tflite"),
    (["--score-threshold", "0.3"], ("detector", "score_threshold"), 0.3),
    (["--detect-every", "3"], ("detector", "every"), 3),
    (["--compare", "a,b"], ("detector", "compare"), ("a", "b")),
    (["--no-track"], ("tracker", "enabled"), False),
    (["--realtime"], ("source", "realtime"), True),
    (["--source", "0"], ("source", "spec"), "0"),
    (["--log-format", "json"], ("monitor", "log_format"), "json"),
    (["--duration", "2.5"], ("run", "duration"), 2.5),
    (["--events", "e.jsonl"], ("output", "events"), "e.jsonl"),
])
def test_flags_are_made_from_the_settings(flags, path, expected):
    config = cli.build_config(cli.build_parser().parse_args(flags))
    assert getattr(getattr(config, path[0]), path[1]) == expected


def test_every_setting_has_a_flag_a_help_and_a_check_that_says_what_it_must_be():
    from pi_vision.config import settings
    from pi_vision.settings import default_flag
    options = {o: a for a in cli.build_parser()._actions for o in a.option_strings}
    for path, f, _ in settings():
        assert f.metadata.get("help"), path
        assert (f.metadata.get("check") is None) == (not f.metadata.get("must")), path
        section, _, name = path.partition(".")
        flag = f.metadata.get("flag") or default_flag(section + ".", name)
        assert flag in options and options[flag].dest == path, path
        assert f.metadata["help"] in options[flag].help, path
    assert isinstance(from_dict({}), Config)


@pytest.mark.parametrize("flags, path, expected", [
    (["--tracker-high-score", "0.55"], ("tracker", "high_score"), 0.55),
    (["--output-events-keep", "3"], ("output", "events_keep"), 3),
    (["--monitor-hang-warning", "2"], ("monitor", "hang_warning"), 2.0),
])
def test_settings_without_a_named_flag_get_one_from_their_path(flags, path, expected):
    config = cli.build_config(cli.build_parser().parse_args(flags))
    assert getattr(getattr(config, path[0]), path[1]) == expected


def test_validate_config(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("source:\n  spec: demo\n")
    assert cli.main(["--validate-config", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("source:\n  spec: demo\n  fsp: 3\n")
    assert cli.main(["--validate-config", str(bad)]) == 2
    assert "unknown key source.fsp" in capsys.readouterr().err
