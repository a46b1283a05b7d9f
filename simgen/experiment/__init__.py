"""Experiments on simgen datasets: render several configurations, train a detector on each,
evaluate them on a target set (``simgen experiment=...``)."""
