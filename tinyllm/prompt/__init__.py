"""Prompt learning (article §2-§3): templates, verbalizers, prompts, tasks, parsing, evaluation."""
