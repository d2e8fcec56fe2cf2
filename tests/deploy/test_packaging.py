"""Packaging: ranges in pyproject.toml, pins and hashes in the locks, one Python everywhere.

`make lock` (uv) writes the three locks from pyproject.toml: requirements.txt (the deploy lock: the
extension's dependencies, every extra and group `app`), requirements-local.txt (group `local`) and
requirements-dev.txt (everything the tests need, the other two locks' pins included). The image
installs requirements.txt with its hashes checked, then the extension itself without dependencies.
The extras (`redis`, `metrics`, `sessions-page`) hold the optional parts: a host app that uses none
of them installs none of them, while the reference app, so the deploy lock, has all three.

Each rule is a function that returns what breaks it; the tests run those functions on the real files,
and `test_each_check_catches_its_broken_rule` runs them on broken copies, so a check that stops
seeing anything fails too. All of it reads files only (no network, no Docker) except the wheel test,
which builds and installs the package offline (marked slow).
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from ..helpers import ROOT, require
from .test_docker import parse_dockerfile

PACKAGE = "flask_google_signin"
LOCKS = ("requirements.txt", "requirements-local.txt", "requirements-dev.txt")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def package_version() -> str:
    """The version's one source (pyproject.toml: dynamic, from `flask_google_signin.__version__`)."""
    tree = ast.parse((ROOT / PACKAGE / "__init__.py").read_text())
    (value,) = [node.value.value for node in tree.body if isinstance(node, ast.Assign)
                and [getattr(target, "id", None) for target in node.targets] == ["__version__"]]
    return value


def group(project: dict, name: str, seen: tuple[str, ...] = ()) -> list[str]:
    """A PEP 735 dependency group, `{include-group = ...}` expanded."""
    assert name not in seen, f"dependency group {name} includes itself: {' -> '.join((*seen, name))}"
    requirements = []
    for entry in project["dependency-groups"][name]:
        if isinstance(entry, dict):
            requirements += group(project, entry["include-group"], (*seen, name))
        else:
            requirements.append(entry)
    return requirements


def extras(project: dict) -> list[str]:
    """Every extra's requirements together ([project.optional-dependencies]), as `make lock` takes them
    (--all-extras): the reference app and the tests use them all."""
    return [text for texts in project["project"].get("optional-dependencies", {}).values() for text in texts]


def covered(project: dict) -> dict[str, list[str]]:
    """Which ranges each lock must satisfy."""
    dependencies = project["project"]["dependencies"] + extras(project)
    return {
        "requirements.txt": dependencies + group(project, "app"),
        "requirements-local.txt": group(project, "local"),
        # the dev venv builds the package offline (Makefile, the wheel test): the build backend too
        "requirements-dev.txt": dependencies + group(project, "dev") + project["build-system"]["requires"],
    }


# --------------------------------------------------------------------------- the locks


def parse_lock(text: str) -> tuple[dict[str, Version], list[str]]:
    """(canonical name -> pinned version, problems): every entry `name==version` with sha256 hashes."""
    pins: dict[str, Version] = {}
    problems: list[str] = []
    logical, current = [], ""
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip() if not line.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        if (current + line).strip():
            logical.append((current + line).strip())
        current = ""
    for entry in logical:
        first, *options = entry.split()
        if first.startswith("-"):
            problems.append(f"{entry[:60]}: only pinned packages belong in a lock, not options or includes")
            continue
        try:
            requirement = Requirement(first)
        except InvalidRequirement as exc:
            problems.append(f"{first}: {exc}")
            continue
        specifiers = list(requirement.specifier)
        if requirement.url or len(specifiers) != 1 or specifiers[0].operator != "==" or "*" in specifiers[0].version:
            problems.append(f"{first}: not pinned with == to one version")
            continue
        hashes = [option for option in options if HASH.fullmatch(option)]
        if not hashes or len(hashes) != len(options):
            given = " ".join(options) or "none"
            problems.append(f"{first}: needs --hash=sha256:... options and nothing else ({given})")
        name = canonicalize_name(requirement.name)
        if name in pins:
            problems.append(f"{first}: {name} is pinned twice")
        pins[name] = Version(specifiers[0].version)
    if not pins:
        problems.append("the lock pins nothing")
    return pins, problems


def lock_python(text: str) -> str | None:
    """The Python the lock was resolved for, from uv's header (`--python-version X.Y`)."""
    match = re.search(r"^#.*--python-version[= ](\d+\.\d+)\b", text, re.MULTILINE)
    return match.group(1) if match else None


def range_problems(requirements: list[str], pins: dict[str, Version], python: str) -> list[str]:
    """Each range of pyproject.toml that applies on `python` (Linux), against the lock's pin. The locks
    hold every extra, so a marker on one (`extra == "..."`) holds too."""
    environment = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux",
                   "platform_system": "Linux", "os_name": "posix", "implementation_name": "cpython",
                   "platform_python_implementation": "CPython"}
    problems = []
    for text in requirements:
        requirement = Requirement(text)
        if requirement.marker and not any(requirement.marker.evaluate({**environment, "extra": extra})
                                          for extra in ("", *extra_names(requirement.marker))):
            continue
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{text}: not in the lock (run `make lock`)")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{text}: the lock pins {name}=={pins[name]}, outside the range (run `make lock`)")
    return problems


def extra_names(marker) -> set[str]:
    """The extras a marker names (`extra == "redis"`)."""
    return set(re.findall(r"""\bextra\s*==\s*["']([^"']+)["']""", str(marker)))


def read_locks() -> dict[str, str]:
    return {name: (ROOT / name).read_text() for name in LOCKS}


@pytest.mark.parametrize("lock", LOCKS)
def test_lock_is_pinned_and_hashed(lock):
    _, problems = parse_lock((ROOT / lock).read_text())
    assert not problems, f"{lock}:\n" + "\n".join(problems)


@pytest.mark.parametrize("lock", LOCKS)
def test_lock_pins_satisfy_pyproject_ranges(lock):
    text = (ROOT / lock).read_text()
    python = lock_python(text)
    assert python, f"{lock}: no `--python-version` in its header; regenerate it with `make lock`"
    problems = range_problems(covered(pyproject())[lock], parse_lock(text)[0], python)
    assert not problems, f"{lock} against pyproject.toml:\n" + "\n".join(problems)


def agreement_problems(locks: dict[str, str]) -> list[str]:
    """The dev lock holds every deploy and local pin, identical: the tests run what is deployed."""
    pins = {name: parse_lock(text)[0] for name, text in locks.items()}
    dev = pins["requirements-dev.txt"]
    problems = []
    for lock in ("requirements.txt", "requirements-local.txt"):
        for name, version in pins[lock].items():
            if dev.get(name) != version:
                problems.append(f"{lock} pins {name}=={version}, requirements-dev.txt "
                                + (f"pins {dev[name]}" if name in dev else "lacks it"))
    for name, version in pins["requirements-local.txt"].items():
        deployed = pins["requirements.txt"].get(name)
        if deployed is not None and deployed != version:
            problems.append(f"requirements-local.txt pins {name}=={version}, requirements.txt {deployed}")
    return problems


def test_locks_agree_and_the_dev_lock_holds_the_others():
    problems = agreement_problems(read_locks())
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- the extras

# The optional parts: extra -> the package it brings. A host app that uses none of them installs none.
OPTIONAL = {"redis": "redis", "metrics": "prometheus-client", "sessions-page": "ua-parser"}


def extras_problems(project: dict) -> list[str]:
    """Each optional package is in its extra and not among the base dependencies."""
    base = {canonicalize_name(Requirement(text).name) for text in project["project"]["dependencies"]}
    optional = project["project"].get("optional-dependencies", {})
    problems = []
    for extra, package in OPTIONAL.items():
        if package in base:
            problems.append(f"{package} is a base dependency: every host app installs it (move it to the extra "
                            f"`{extra}`)")
        if package not in {canonicalize_name(Requirement(text).name) for text in optional.get(extra, [])}:
            problems.append(f"the extra `{extra}` does not install {package}")
    return problems


def test_optional_parts_are_extras_not_base_dependencies():
    problems = extras_problems(pyproject())
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- imports against dependencies


def third_party_imports(paths: list[Path]) -> dict[str, str]:
    """Top-level module -> first file importing it, for absolute imports outside the standard library."""
    local = {PACKAGE, "app", "wsgi", "tests", "serve"}
    found: dict[str, str] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local and top != "__future__":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def import_problems(imports: dict[str, str], requirements: list[str]) -> list[str]:
    declared = {canonicalize_name(Requirement(text).name) for text in requirements}
    providers = importlib.metadata.packages_distributions()
    problems = []
    for module, where in sorted(imports.items()):
        distributions = {canonicalize_name(name) for name in providers.get(module, [])}
        if not distributions & declared:
            source = ", ".join(sorted(distributions)) or "nothing installed"
            problems.append(f"{where} imports {module} (from {source}), which is not among the declared dependencies")
    return problems


def test_extension_imports_only_its_declared_dependencies():
    """What the package imports, pip must install with it: [project] dependencies or an extra (imported only
    when that part is used: tests/deploy/test_dist.py imports the package without them), not the app's or dev's."""
    imports = third_party_imports(sorted((ROOT / PACKAGE).rglob("*.py")))
    assert {"flask", "authlib"} <= set(imports), imports
    project = pyproject()
    problems = import_problems(imports, project["project"]["dependencies"] + extras(project))
    assert not problems, "\n".join(problems)


def test_reference_app_imports_only_what_the_image_installs():
    """The image has requirements.txt only: the app may import the extension's dependencies, its extras (the
    deploy lock holds them all) and group `app`."""
    paths = [*sorted((ROOT / "app").rglob("*.py")), ROOT / "wsgi.py", ROOT / "gunicorn.conf.py"]
    project = pyproject()
    problems = import_problems(third_party_imports(paths),
                               project["project"]["dependencies"] + extras(project) + group(project, "app"))
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- the Dockerfile


def pip_installs(run: str) -> list[list[str]]:
    """The argument lists of the `pip ... install` commands in one RUN."""
    commands = []
    for command in re.split(r"&&|;|\|\|", run):
        words = shlex.split(command)
        if words[:3] == ["python", "-m", "pip"]:
            words = ["pip", *words[3:]]
        if words and words[0] in {"pip", "pip3"} and "install" in words:
            commands.append(words)
    return commands


def copies(stage) -> dict[str, str]:
    """COPY source -> destination in one stage (sources from the build context)."""
    mapping = {}
    for copy in stage.all("COPY"):
        words = [w for w in shlex.split(copy) if not w.startswith("--")]
        if not copy.startswith("--from="):
            for source in words[:-1]:
                mapping[source] = words[-1]
    return mapping


def dockerfile_problems(text: str) -> list[str]:
    """The build stage installs requirements.txt (hashes checked, nothing else), then the project with
    --no-deps; the local provider installs its lock with hashes checked; no pip install anywhere brings
    in an unlocked dependency."""
    problems = []
    _, stages = parse_dockerfile(text)
    for stage in stages:
        for run in stage.all("RUN"):
            for words in pip_installs(run):
                if "--no-deps" not in words:
                    problems.append(f"{stage.name or 'final'}: `{' '.join(words)}` may pull unlocked dependencies "
                                    "(every install is a hashed lock or the project, with --no-deps)")
                if "-r" in words and "--require-hashes" not in words:
                    problems.append(f"{stage.name or 'final'}: `{' '.join(words)}` installs a lock without "
                                    "--require-hashes")
    by_name = {stage.name: stage for stage in stages}
    build = by_name.get("build")
    if build is None:
        return [*problems, "no `build` stage"]
    steps = [(name, args) for name, args in build.instructions if name in {"COPY", "RUN"}]
    sources = copies(build)
    lock = sources.get("requirements.txt")
    project = sources.get("pyproject.toml")
    if lock is None or project is None:
        return [*problems, "the build stage must COPY requirements.txt and pyproject.toml"]
    src = project if project.endswith("/") else project.rsplit("/", 1)[0] or "/"
    if not any(dest.rstrip("/") in {f"{src.rstrip('/')}/{PACKAGE}", src.rstrip("/")}
               for source, dest in sources.items() if source.rstrip("/") == PACKAGE):
        problems.append(f"the build stage must COPY {PACKAGE}/ next to pyproject.toml ({src})")
    lock_step = project_step = None
    for index, (name, args) in enumerate(steps):
        for words in pip_installs(args) if name == "RUN" else []:
            if "-r" in words and words[words.index("-r") + 1] == lock:
                lock_step = lock_step if lock_step is not None else index
                for flag in ("--require-hashes", "--only-binary=:all:"):
                    if flag not in words:
                        problems.append(f"build: requirements.txt is installed without {flag}")
            elif src.rstrip("/") in {w.rstrip("/") for w in words}:
                project_step = index
    if lock_step is None:
        problems.append(f"build: no pip install -r {lock}")
    if project_step is None:
        problems.append(f"build: no pip install of the project ({src})")
    elif lock_step is not None:
        if project_step < lock_step:
            problems.append("build: the project is installed before the lock")
        copy_project = min(i for i, (name, args) in enumerate(steps) if name == "COPY" and "pyproject.toml" in args)
        if copy_project < lock_step:
            problems.append("build: copy the project after installing the lock, so a code edit keeps the lock's layer")
    local = by_name.get("local-provider")
    local_lock = copies(local).get("requirements-local.txt") if local else None
    if not local_lock or not any("-r" in w and local_lock in w and "--require-hashes" in w
                                 for run in local.all("RUN") for w in pip_installs(run)):
        problems.append("local-provider: requirements-local.txt must be installed with --require-hashes")
    return problems


def test_image_installs_the_hashed_lock_then_the_project_without_deps():
    problems = dockerfile_problems((ROOT / "Dockerfile").read_text())
    assert not problems, "\n".join(problems)


def test_docker_context_holds_what_builds_the_package():
    """pip builds the extension from exactly pyproject.toml, README.md, LICENSE and flask_google_signin/ (the
    wheel test too)."""
    from .test_docker import dockerignore, ignored

    patterns = dockerignore()
    for path in ("README.md", "LICENSE"):  # the metadata names them (readme, license-files)
        assert not ignored(path, patterns), f"{path} is left out of the Docker build context"
    for path in ("pyproject.toml", f"{PACKAGE}/__init__.py", f"{PACKAGE}/py.typed",
                 f"{PACKAGE}/web/templates/google_signin/error.html", "requirements.txt", "requirements-local.txt"):
        assert not ignored(path, patterns), f"{path} is left out of the Docker build context"
    for path in (f"{PACKAGE}.egg-info/PKG-INFO", "build/lib/flask_google_signin/__init__.py",
                 f"{PACKAGE}/__pycache__/store.cpython-311.pyc", "requirements-dev.txt", "dist/x.whl"):
        assert ignored(path, patterns), f"{path} would be sent to the Docker daemon"


# --------------------------------------------------------------------------- one Python


def image_pythons(text: str) -> set[str]:
    _, stages = parse_dockerfile(text)
    return {match.group(1) if (match := re.fullmatch(r"python:(\d+\.\d+)[-.\w]*", stage.base)) else stage.base
            for stage in stages}


def python_problems(dockerfile: str, locks: dict[str, str], project: dict, makefile: str) -> list[str]:
    """The image's Python is the one the locks were resolved for, the Makefile locks for, ruff targets and
    requires-python admits."""
    problems = []
    images = image_pythons(dockerfile)
    if len(images) != 1:
        return [f"the Dockerfile's stages use several Pythons: {sorted(images)}"]
    (image,) = images
    for lock, text in locks.items():
        if lock_python(text) != image:
            problems.append(f"{lock} was resolved for Python {lock_python(text)}, the image runs {image}")
    match = re.search(r"^LOCK_PYTHON\s*:?=\s*(\S+)", makefile, re.MULTILINE)
    if not match or match.group(1) != image:
        problems.append(f"Makefile: LOCK_PYTHON is {match and match.group(1)}, the image runs {image}")
    if project["tool"]["ruff"]["target-version"] != "py" + image.replace(".", ""):
        problems.append(f"ruff's target-version is {project['tool']['ruff']['target-version']}, the image runs {image}")
    if not Requirement(f"python{project['project']['requires-python']}").specifier.contains(f"{image}.0"):
        problems.append(f"requires-python {project['project']['requires-python']} excludes the image's {image}")
    return problems


def test_image_locks_and_tools_share_one_python():
    problems = python_problems((ROOT / "Dockerfile").read_text(), read_locks(), pyproject(),
                               (ROOT / "Makefile").read_text())
    assert not problems, "\n".join(problems)


def test_image_python_is_the_python_the_tests_run_on():
    """CI runs the tests on this interpreter: the image must run the same minor version."""
    (image,) = image_pythons((ROOT / "Dockerfile").read_text())
    running = "{}.{}".format(*sys.version_info[:2])
    require(running == image, f"the image's Python, {image}, to run the tests (they run on {running})")
    assert running == image


# --------------------------------------------------------------------------- the checks themselves


def _lock_entry(name: str = "flask", version: str = "3.1.3", hashes: int = 1) -> str:
    return f"{name}=={version}" + "".join(f" \\\n    --hash=sha256:{str(i) * 64}" for i in range(hashes)) + "\n"


BROKEN = {
    "unpinned": lambda: parse_lock("flask>=3.1 \\\n    --hash=sha256:" + "0" * 64 + "\n")[1],
    "unhashed": lambda: parse_lock("flask==3.1.3\n")[1],
    "an md5 hash": lambda: parse_lock("flask==3.1.3 --hash=md5:" + "0" * 32 + "\n")[1],
    "an include": lambda: parse_lock(_lock_entry() + "-r requirements.txt\n")[1],
    "a pin outside the range": lambda: range_problems(["Flask>=3.1.3,<4"], {"flask": Version("4.0.0")}, "3.11"),
    "a dependency missing from the lock": lambda: range_problems(["redis>=8"], {"flask": Version("3.1.3")}, "3.11"),
    "an extra's package missing from the lock": lambda: range_problems(
        ['redis>=8; extra == "redis"'], {"flask": Version("3.1.3")}, "3.11"),
    "an optional part among the base dependencies": lambda: extras_problems(
        {"project": {**pyproject()["project"],
                     "dependencies": [*pyproject()["project"]["dependencies"], "ua-parser>=1.0.2,<2"]}}),
    "an extra without its package": lambda: extras_problems(
        {"project": {**pyproject()["project"],
                     "optional-dependencies": {**pyproject()["project"]["optional-dependencies"], "metrics": []}}}),
    "dev lock drifting from the deploy lock": lambda: agreement_problems({
        "requirements.txt": _lock_entry("flask", "3.1.3"), "requirements-local.txt": _lock_entry("flask", "3.1.3"),
        "requirements-dev.txt": _lock_entry("flask", "3.1.2")}),
    "an import of an undeclared package": lambda: import_problems({"flask": "x.py", "dotenv": "x.py"},
                                                                  ["Flask>=3"]),
    "the lock without --require-hashes": lambda: dockerfile_problems(
        (ROOT / "Dockerfile").read_text().replace("--require-hashes", "")),
    "the project with its dependencies": lambda: dockerfile_problems(
        re.sub(r"(--no-deps )(/src)", r"\2", (ROOT / "Dockerfile").read_text())),
    "an extra unlocked package": lambda: dockerfile_problems((ROOT / "Dockerfile").read_text().replace(
        "USER 10001:10001\nEXPOSE 9400", "RUN pip install --no-cache-dir flask==3.1.3\nUSER 10001:10001\nEXPOSE 9400")),
    "another Python in the image": lambda: python_problems(
        (ROOT / "Dockerfile").read_text().replace("python:3.", "python:3.1"), read_locks(), pyproject(),
        (ROOT / "Makefile").read_text()),
    "a lock for another Python": lambda: python_problems(
        (ROOT / "Dockerfile").read_text(),
        {**read_locks(), "requirements.txt": read_locks()["requirements.txt"].replace("--python-version 3.",
                                                                                       "--python-version 3.1")},
        pyproject(), (ROOT / "Makefile").read_text()),
}


@pytest.mark.parametrize("case", BROKEN)
def test_each_check_catches_its_broken_rule(case):
    assert BROKEN[case](), f"{case}: the check found nothing wrong"


# --------------------------------------------------------------------------- the package itself


@pytest.mark.slow
def test_wheel_holds_the_extension_and_installs_into_a_fresh_venv(tmp_path):
    """`pip wheel` from what the image copies (pyproject.toml, README.md, LICENSE, flask_google_signin/), offline;
    then the wheel in a new venv, imported from outside the repository."""
    require(importlib.util.find_spec("setuptools") is not None, "setuptools in the test venv (requirements-dev.txt)")
    project = pyproject()
    backend = Requirement(project["build-system"]["requires"][0])
    assert backend.specifier.contains(importlib.metadata.version("setuptools")), "the dev venv's setuptools is too old"
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (src / name).write_text((ROOT / name).read_text())
    on_disk = set()
    for path in sorted((ROOT / PACKAGE).rglob("*")):
        relative = path.relative_to(ROOT)
        if path.is_file() and "__pycache__" not in relative.parts and path.suffix != ".pyc":
            (src / relative).parent.mkdir(parents=True, exist_ok=True)
            (src / relative).write_bytes(path.read_bytes())
            on_disk.add(relative.as_posix())
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    build = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-w", str(tmp_path / "dist"), str(src)],
                           cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=180)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    assert wheel.name.startswith(f"flask_google_signin-{package_version()}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), "the wheel lacks the LICENSE"
    packaged = {n for n in names if n.startswith(f"{PACKAGE}/")}
    assert {f"{PACKAGE}/__init__.py", f"{PACKAGE}/py.typed"} <= packaged
    assert any(n.startswith(f"{PACKAGE}/web/templates/google_signin/") and n.endswith(".html") for n in packaged)
    assert packaged == on_disk, f"not in the wheel: {sorted(on_disk - packaged)}; extra: {sorted(packaged - on_disk)}"
    assert {n.split("/")[0] for n in names} == {PACKAGE, metadata_name.split("/")[0]}, "only the extension is packaged"
    assert metadata["Name"] == "flask-google-signin"
    def ranges(texts: list[str]) -> set[tuple[str, str, str]]:
        return {(canonicalize_name(r.name), str(r.specifier), str(r.marker)) for r in map(Requirement, texts)}

    optional = project["project"].get("optional-dependencies", {})
    expected = project["project"]["dependencies"] + [f'{text}; extra == "{extra}"'
                                                     for extra, texts in optional.items() for text in texts]
    assert ranges(metadata.get_all("Requires-Dist") or []) == ranges(expected)
    assert set(metadata.get_all("Provides-Extra") or []) == set(optional)
    assert metadata["License-Expression"] == project["project"]["license"]

    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = fresh / "bin" / "python"
    install = subprocess.run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
                             cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=180)
    assert install.returncode == 0, install.stdout + install.stderr
    # The dependencies come from the test venv (a .pth line; its own .pth files, the editable install's
    # among them, are not read from there): the extension itself only from the fresh venv.
    fresh_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                capture_output=True, text=True, check=True).stdout.strip()
    Path(fresh_site, "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    probe = (
        "import importlib.resources, flask_google_signin as p;"
        "files = importlib.resources.files('flask_google_signin');"
        "print(p.__file__);"
        "print((files / 'py.typed').is_file(),"
        " (files / 'web' / 'templates' / 'google_signin' / 'logout.html').is_file())"
    )
    result = subprocess.run([str(python), "-c", probe], cwd=tmp_path, env=environ, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    where, resources = result.stdout.splitlines()
    assert Path(where).is_relative_to(fresh), where
    assert resources == "True True"
