"""Domain-randomization experiments: render arms, train a detector per arm, score it on a target set.

``simgen experiment=dr_gap`` (docs/experiments.md). :mod:`.config` declares a study,
:mod:`.evaluate` scores detections with COCOeval, :mod:`.runner` runs it all; :mod:`.training`
declares the torchvision trainer's settings (for studies, simgen.torch and scripts alike).
"""
