"""The main job end to end on a real data set: the Palmer penguins (344 birds, missing values, categoricals,
3 species) shipped inside the ``palmerpenguins`` package.

load → profile → clean → several candidate models under stratified 5-fold CV → leaderboard → refit the best →
held-out test → model artifact → HTML report → predictions with the saved model.

Run it with ``make demo`` (or ``python examples/demo.py [OUT_DIR]``).
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

from assay.cli import main


def run(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    data = out / "penguins.csv"
    with resources.as_file(resources.files("palmerpenguins") / "data" / "penguins.csv") as shipped:
        shutil.copyfile(shipped, data)
    print(f"data: {data} (palmerpenguins)\n")

    steps = [
        ["profile", str(data), "--out", str(out / "profile"), "--target", "species"],
        ["train", str(data), "--target", "species", "--models", "logreg,lgbm,rf", "--folds", "5",
         "--seed", "0", "--out", str(out / "train")],
        ["predict", str(out / "train" / "model"), str(data), "--out", str(out / "predictions.csv")],
    ]
    for argv in steps:
        print(f"$ assay {' '.join(argv)}", flush=True)
        code = main(argv)
        if code != 0:
            return code
        print(flush=True)
    print(f"profile report: {out / 'profile' / 'profile.html'}")
    print(f"train report:   {out / 'train' / 'report.html'}")
    print(f"model:          {out / 'train' / 'model'}")
    print(f"predictions:    {out / 'predictions.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1] if len(sys.argv) > 1 else "assay-out/demo")))
