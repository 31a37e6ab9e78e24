"""From patches to a land-cover map: predict every window of a Sentinel-2 scene with a trained run.

``windows`` says which windows a map predicts, which pixels each labels and the blocks they are read in;
``scene`` opens, checks and scales the raster; ``classify`` predicts block by block; ``outputs`` writes the
Cloud Optimised GeoTIFFs, preview and area table; ``agreement`` compares the map with labelled polygons;
``land_cover`` ties them together and writes every output atomically.
"""
