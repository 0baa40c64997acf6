"""Every package the corpus is made from, pinned, and fetching them into the cache without
installing anything system-wide: npm packages by `npm pack`, Debian packages by
`apt-get download` + `dpkg -x`. A package is unpacked beside its final folder and renamed into
place, so an interrupted fetch never leaves half a package."""
import os
import subprocess
import sys
import tarfile

EMOJI_DATASOURCE_VERSION = "16.0.0"
EMOJI_VENDORS = ("google", "twitter", "apple", "facebook")

# Iconify icon sets (@iconify-json/<prefix>@<version>): the set's own icons.json, info.json
# (licence) and metadata.json (categories).
ICONIFY_SETS = {
    "akar-icons": "1.2.7", "bi": "1.2.7", "bx": "1.2.3", "bxs": "1.2.3", "carbon": "1.2.29", "cil": "1.2.3",
    "circle-flags": "1.2.11", "clarity": "1.2.4", "covid": "1.2.3", "emojione": "1.2.3", "emojione-monotone": "1.2.1",
    "emojione-v1": "1.2.3", "eva": "1.2.3", "fa-regular": "1.2.2", "fa-solid": "1.2.2", "fa6-regular": "1.2.4",
    "fa6-solid": "1.2.4", "fe": "1.2.4", "flag": "1.2.12", "flagpack": "1.2.8", "flat-color-icons": "1.2.3",
    "fluent": "1.2.60", "fluent-emoji": "1.2.7", "fluent-emoji-flat": "1.2.6", "fluent-emoji-high-contrast": "1.2.6",
    "fxemoji": "1.2.2", "game-icons": "1.2.4", "guidance": "1.2.2", "healthicons": "1.2.13", "heroicons": "1.2.3",
    "hugeicons": "1.2.35", "ic": "1.2.4", "icon-park-outline": "1.2.4", "icon-park-solid": "1.2.4", "iconoir": "1.2.11",
    "icons8": "1.2.1", "ion": "1.2.7", "jam": "1.2.3", "la": "1.2.1", "lucide": "1.2.137", "majesticons": "1.2.5",
    "maki": "1.2.5", "map": "1.2.2", "material-symbols": "1.2.98", "mdi": "1.2.3", "medical-icon": "1.2.0",
    "meteocons": "1.2.4", "mingcute": "1.2.8", "mynaui": "1.2.19", "noto": "1.2.9", "noto-v1": "1.2.5",
    "octicon": "1.2.36", "pepicons-pop": "1.2.4", "ph": "1.2.2", "ri": "1.2.10", "solar": "1.2.13",
    "streamline": "1.2.5", "streamline-emojis": "1.2.4", "tabler": "1.2.41", "tdesign": "1.2.19", "temaki": "1.2.6",
    "twemoji": "1.2.5", "uil": "1.2.3", "wi": "1.2.1",
    "ant-design": "1.2.9",
    "basil": "1.2.4",
    "ci": "1.2.2",
    "dashicons": "1.2.1",
    "entypo": "1.2.1",
    "ep": "1.2.4",
    "flowbite": "1.2.7",
    "fluent-color": "1.2.21",
    "fluent-mdl2": "1.2.1",
    "foundation": "1.2.1",
    "gg": "1.2.2",
    "gridicons": "1.2.5",
    "humbleicons": "1.2.20",
    "icon-park": "1.2.4",
    "icon-park-twotone": "1.2.4",
    "iconamoon": "1.2.2",
    "lets-icons": "1.2.2",
    "lineicons": "1.2.6",
    "mage": "1.2.4",
    "material-symbols-light": "1.2.94",
    "oui": "1.2.6",
    "pixelarticons": "1.2.9",
    "radix-icons": "1.2.6",
    "streamline-color": "1.2.2",
    "streamline-flex": "1.2.3",
    "streamline-freehand": "1.2.1",
    "streamline-plump": "1.2.0",
    "streamline-sharp": "1.2.0",
    "streamline-ultimate": "1.2.2",
    "system-uicons": "1.2.4",
    "teenyicons": "1.2.2",
    "typcn": "1.2.2",
    "uiw": "1.2.4",
}

# The search tags of three of those sets, from the sets' own packages (data/corpus/icon_tags.py):
# Iconify prefix -> (npm name, version).
TAG_PACKAGES = {
    "tabler": ("@tabler/icons", "3.51.0"),
    "lucide": ("lucide-static", "1.62.0"),
    "ph": ("@phosphor-icons/core", "2.1.1"),
}

# OpenMoji is kept for independent evaluation: it never enters training or model selection,
# in any packaging. Any package or set whose name contains this is refused.
RESERVED_FOR_EVALUATION = "openmoji"

DEBIAN = ("unicode-cldr-core", "tuxpaint-stamps-default", "openclipart-svg", "wordnet-base",
          "dict-freedict-eng-ell", "dict-freedict-ell-eng")


def refuse_reserved(name):
    if RESERVED_FOR_EVALUATION in name.lower():
        raise SystemExit(f"build-corpus: '{name}' is OpenMoji, which is reserved for independent evaluation "
                         "and never enters training data")


def log(message):
    print(f"build-corpus: {message}", file=sys.stderr, flush=True)


def run(cmd, cwd=None):
    result = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise SystemExit(f"build-corpus: '{' '.join(cmd)}' failed:\n{result.stderr.strip()}")
    return result.stdout


def npm_folder_name(package, version):
    """"@tabler/icons", "3.51.0" -> "tabler-icons-3.51.0": how npm names its tarball (with .tgz)."""
    return package.lstrip("@").replace("/", "-") + f"-{version}"


def npm_tarball_name(package, version):
    return npm_folder_name(package, version) + ".tgz"


def extract(tgz, target):
    os.makedirs(target + ".partial", exist_ok=True)
    with tarfile.open(tgz) as archive:
        if hasattr(tarfile, "data_filter"):  # refuses links and paths that escape the folder
            archive.extractall(target + ".partial", filter="data")
        else:
            archive.extractall(target + ".partial")
    os.replace(target + ".partial", target)


def fetch_npm(downloads, raw, packages):
    """packages: [(npm name, version, folder under raw)]; fetches the missing ones in one npm call."""
    for name, _, _ in packages:
        refuse_reserved(name)
    missing = [(n, v, f) for n, v, f in packages if not os.path.isdir(os.path.join(raw, f, "package"))]
    to_pack = [(n, v) for n, v, _ in missing if not os.path.exists(os.path.join(downloads, npm_tarball_name(n, v)))]
    if to_pack:
        log(f"npm pack {len(to_pack)} packages ({', '.join(n for n, _ in to_pack[:4])}{', ...' if len(to_pack) > 4 else ''})")
        run(["npm", "pack", "--silent"] + [f"{n}@{v}" for n, v in to_pack], cwd=downloads)
    for name, version, folder in missing:
        extract(os.path.join(downloads, npm_tarball_name(name, version)), os.path.join(raw, folder))


def fetch_debian(downloads, raw, packages):
    for package in packages:
        target = os.path.join(raw, package)
        if os.path.isdir(target):
            continue
        debs = [f for f in os.listdir(downloads) if f.startswith(package + "_") and f.endswith(".deb")]
        if not debs:
            log(f"apt-get download {package}")
            run(["apt-get", "download", package], cwd=downloads)
            debs = [f for f in os.listdir(downloads) if f.startswith(package + "_") and f.endswith(".deb")]
        run(["dpkg", "-x", os.path.join(downloads, sorted(debs)[-1]), target + ".partial"])
        os.replace(target + ".partial", target)


def iconify_folder(prefix):
    return f"iconify-{prefix}-{ICONIFY_SETS[prefix]}"


def tag_folder(prefix):
    """Where the tag package of Iconify set `prefix` is unpacked under raw."""
    return npm_folder_name(*TAG_PACKAGES[prefix])


def fetch_all(cache, iconify_sets=None):
    """Fetches everything into CACHE/raw; returns that folder."""
    downloads = os.path.join(cache, "downloads")
    raw = os.path.join(cache, "raw")
    os.makedirs(downloads, exist_ok=True)
    os.makedirs(raw, exist_ok=True)
    sets = sorted(ICONIFY_SETS if iconify_sets is None else iconify_sets)
    npm = [(f"emoji-datasource-{v}", EMOJI_DATASOURCE_VERSION, f"emoji-datasource-{v}-{EMOJI_DATASOURCE_VERSION}")
           for v in EMOJI_VENDORS]
    npm += [(f"@iconify-json/{p}", ICONIFY_SETS[p], iconify_folder(p)) for p in sets]
    npm += [(*TAG_PACKAGES[p], tag_folder(p)) for p in sets if p in TAG_PACKAGES]
    fetch_npm(downloads, raw, npm)
    fetch_debian(downloads, raw, DEBIAN)
    return raw
