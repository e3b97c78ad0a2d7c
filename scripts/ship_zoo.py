"""Ship the zoo's weights with tinyllm: copy built zoo models from the cache into tinyllm/zoo_weights/
and write zoo_weights/manifest.json (every file's size and sha256, the weights' fingerprint, the
machine that trained them).

    python scripts/ship_zoo.py                      # all four zoo models, from $TINYLLM_HOME/models
    python scripts/ship_zoo.py tinyworld-bert-256   # one

Why ship weights at all: the same recipe trained on another CPU instruction set (AVX2 against
AVX-512) rounds float32 sums differently and ends with a visibly different model, so results/
(prompt grids, applications) would not rerun to the same numbers. Shipping the weights they were
computed on makes every committed row reproducible anywhere; ``tinyllm.pretrained(name,
retrain=True)`` still trains each model from its recipe on the reader's machine.
"""

import argparse
import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tinyllm import zoo  # noqa: E402
from tinyllm.prompt.grid import weights_fingerprint  # noqa: E402
from tinyllm.runtime import cpu_description, cpu_vectors  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", default=sorted(zoo.RECIPES), help="zoo models (default: all)")
    args = ap.parse_args(argv)
    manifest_file = zoo.SHIPPED / "manifest.json"
    manifest = json.loads(manifest_file.read_text()) if manifest_file.exists() else {"models": {}}
    manifest["about"] = ("Weights of the zoo models as trained by tinyllm.zoo.RECIPES; every committed result "
                         "in results/ was computed on these. Written by scripts/ship_zoo.py.")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    for name in args.names:
        source = zoo.model_dir(name)
        recipe = json.loads((source / "recipe.json").read_text())
        if not zoo._same_recipe(recipe, name):
            sys.exit(f"{source} was not trained by RECIPES[{name!r}]; rebuild it: "
                     f"python -c \"import tinyllm; tinyllm.pretrained({name!r}, retrain=True)\"")
        model, _ = zoo.load_folder(source)
        target = zoo.SHIPPED / name
        target.mkdir(parents=True, exist_ok=True)
        files = {}
        for file in zoo.SHIPPED_FILES:
            shutil.copyfile(source / file, target / file)
            files[file] = {"bytes": (target / file).stat().st_size, "sha256": zoo._sha256(target / file)}
        manifest["models"][name] = {
            "weights": weights_fingerprint(model),
            "trained_on": f"{cpu_description()}, {platform.machine()}",
            "vectors": cpu_vectors(),
            "build_threads": zoo.build_threads(name),
            "shipped_at_commit": commit or "unknown",
            "files": files,
        }
        print(f"{name}: weights {manifest['models'][name]['weights']}, "
              f"{sum(f['bytes'] for f in files.values()) / 1e6:.1f} MB")
    manifest["models"] = dict(sorted(manifest["models"].items()))
    manifest_file.write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
