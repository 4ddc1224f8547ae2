"""The report side: what the book computes from run folders and data folders, and draws.

``runs`` (which runs a profile has, seeds averaged per image), ``results`` (Table 1, paired
comparisons, the post-processing gain), ``tables`` (HTML and pipe tables), ``claims`` (the paper's claims checked), ``failures``,
``robustness`` (the perturbation grid's curves and drops), ``papers`` (what the papers report),
``images`` (the data folder the figures read, the cases shown), ``training`` (curves and cost),
``architecture`` (notebook 02's numbers), ``ct`` (the CT page), ``status`` (the build's status
page) and ``figures`` (every plot, one shared style).

Nothing here imports TensorFlow (``tests/test_layout.py`` checks it): once the runs exist, the
book is rebuilt on a laptop in minutes.
"""
