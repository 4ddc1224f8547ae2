"""The report side: what the book computes from run folders, benchmark files and data folders,
and draws.

``profile_runs`` (which runs a profile has, seeds averaged per image), ``results`` (Table 1,
paired comparisons, the post-processing gain), ``tables`` (HTML and pipe tables), ``verdicts``
(the verdict rules), ``claims`` (the paper's claims checked), ``failures``,
``perturbation_grid`` (the robustness grid's curves and drops), ``augmentation_experiment`` (the
robustness fix experiment), ``remedies`` (the default model's remedy screen), ``papers`` (what
the papers report), ``images`` (the data folder the figures read, the cases shown), ``training``
(curves and cost), ``architecture`` (notebook 02's numbers), ``ct`` (the CT page), ``speed`` (the
speed page, from ``lungseg bench``'s files), ``usage``, ``reproducibility``, ``status`` (the
build's status page) and ``figures`` (every plot, one shared style).

Nothing here imports TensorFlow (``tests/test_layout.py`` checks it): once the runs exist, the
book is rebuilt on a laptop in minutes.
"""
