"""mkdocs-gen-files entry: writes the generated pages (see docs/generate.py) into the build."""

import importlib.util
from pathlib import Path

import mkdocs_gen_files

_spec = importlib.util.spec_from_file_location("finesweep_docs_generate", Path(__file__).with_name("generate.py"))
generate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(generate)

for page, render in generate.PAGES.items():
    with mkdocs_gen_files.open(page, "w") as handle:
        handle.write(render())
