"""Domain-randomization experiments: render arms, train a detector per arm, score it on a target set.

``simgen study dr_gap`` (docs/tutorials/study.md). :mod:`.config` declares a study,
:mod:`.evaluate` scores detections with COCOeval, :mod:`.runner` runs it all; :mod:`.training`
declares the torchvision trainer's settings (for studies, simgen.torch and scripts alike);
:mod:`.from_fit` reads a fit's best.yaml for an arm's ``from_fit``. The package sits below
:mod:`simgen.fit`, whose ``fit.objective=ap`` runs a study per trial, and imports nothing of it.
"""
