# Bad input (issue 5): topology, compose environment and secret files that
# `make up` must refuse in its preflight, naming the field, changing nothing.
# The Ansible inventory cases of the same table run in `make negative`.

.PHONY: bad-input bad-input-doc

bad-input: venv ## Bad topology/env/secrets: make up refuses each naming the field; nothing changes
	@$(BIN)/pytest tests/badinput -m bad_input -q -p no:cacheprovider

bad-input-doc: venv ## Regenerate docs/bad-input.md from the bad-input and negative test cases
	@$(BIN)/python scripts/bad_input_table.py > docs/bad-input.md.tmp
	@mv docs/bad-input.md.tmp docs/bad-input.md
