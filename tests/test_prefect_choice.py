"""Whether `comic2pdf convert` uses Prefect: an API in the environment or the active profile."""

from comic2pdf.settings import prefect_api_configured


def write_profiles(home, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "profiles.toml").write_text(text)


def test_no_api_anywhere_means_no_prefect(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    assert not prefect_api_configured()  # no profiles.toml at all
    write_profiles(tmp_path / "home", 'active = "ephemeral"\n[profiles.ephemeral]\n')
    assert not prefect_api_configured()


def test_an_api_url_in_the_environment_means_prefect(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert prefect_api_configured()


def test_an_api_url_in_the_active_profile_means_prefect(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    write_profiles(
        tmp_path / "home",
        'active = "server"\n[profiles.ephemeral]\n'
        '[profiles.server]\nPREFECT_API_URL = "http://127.0.0.1:4200/api"\n',
    )
    assert prefect_api_configured()
    monkeypatch.setenv("PREFECT_PROFILE", "ephemeral")  # another profile chosen for this shell
    assert not prefect_api_configured()


def test_a_broken_profiles_file_is_no_api(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "home"))
    write_profiles(tmp_path / "home", "this is [not toml")
    assert not prefect_api_configured()
