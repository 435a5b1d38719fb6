"""The run lifecycle: who acts on a run, and how submission decisions and job outcomes reach the ledger."""
