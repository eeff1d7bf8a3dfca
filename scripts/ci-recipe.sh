#!/usr/bin/env bash
# Runs the CI recipe of a Markdown page (docs/ci.md) as written: every fenced block after a
# `<!-- file: PATH -->` line is written to PATH in a fresh project folder, the block after
# `<!-- recipe -->` is run there with `bash -euo pipefail`, after one substitution:
# `pip install captchaai-mock` installs WHEEL instead of the package from PyPI.
#
# Usage: scripts/ci-recipe.sh PAGE WORK WHEEL (with the PATH the recipe should see: the
# wheel's test gives it one without cargo and rustc).
set -euo pipefail

PAGE="$1"
WORK="$2"
WHEEL="$3"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROJECT="$WORK/project"
rm -rf "$PROJECT"
mkdir -p "$PROJECT"

# The stand-ins for the project's own client and receiver.
cp "$ROOT/adapters/polite_client.py" "$PROJECT/my_client.py"
cp "$ROOT/examples/receivers/correct_receiver.py" "$PROJECT/my_receiver.py"

python3 - "$PAGE" "$PROJECT" "$WHEEL" <<'PY'
import os, re, shlex, sys
page, project, wheel = sys.argv[1:]
text = open(page, encoding="utf-8").read()
blocks = re.findall(r"<!-- (file: (\S+)|recipe) -->\n```\w*\n(.*?)```", text, re.S)
recipes = [body for kind, _, body in blocks if kind == "recipe"]
if len(recipes) != 1:
    sys.exit(f"{page}: expected one recipe block, found {len(recipes)}")
for kind, path, body in blocks:
    if path:
        target = os.path.join(project, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "w", encoding="utf-8").write(body)
recipe = recipes[0]
if "pip install captchaai-mock" not in recipe:
    sys.exit(f"{page}: the recipe does not install captchaai-mock")
recipe = recipe.replace("pip install captchaai-mock", "pip install " + shlex.quote(wheel))
open(os.path.join(project, "recipe.sh"), "w", encoding="utf-8").write(recipe)
PY

echo "ci-recipe: running the recipe of $PAGE in $PROJECT"
(cd "$PROJECT" && env -u VIRTUAL_ENV CI=true bash -euo pipefail recipe.sh)
for report in pytest client receiver; do
    if ! grep -q "<testsuite" "$PROJECT/reports/$report.xml"; then
        echo "ci-recipe: reports/$report.xml is not a JUnit report" >&2
        exit 1
    fi
done
echo "ci-recipe: ok (reports: pytest.xml, client.xml, receiver.xml)"
