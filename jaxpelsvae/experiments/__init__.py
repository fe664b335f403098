"""Experiment orchestration: data-shift scenarios run end to end, repetitions over seeds, reports and figures."""
