"""Smoothed Particle Inference (Peterson, Marshall & Andersson 2007).

A source is a set of emitting "particles", each with a temperature, abundance
and luminosity (and, for event lists, a sky position and width), forward-folded
through the instrument and sampled with emcee.

* :mod:`.templates`: CIE templates on a temperature grid, folded once through
  the response (the model is linear in each particle's luminosity and abundance);
* :mod:`.likelihood`: Sherpa's cstat / wstat on a session's data set, vectorised
  over walkers;
* :mod:`.moves`: emcee moves for a kilo-parametric, label-switching posterior;
* :mod:`.sampler`: runs, HDF5 backend with resume, convergence diagnostics;
* :mod:`.evidence`: particle number by thermodynamic integration;
* :mod:`.dem`: DEM peer models (log-normal, Gaussian, power law) on the same templates;
* :mod:`.spatial`: spatial-spectral SPI on event lists, temperature maps.
"""
