"""NIR, the Neuromorphic Intermediate Representation (``pip install 'snnrl[nir]'``).

NIR graphs are read and written by snnTorch, Norse, SpikingJelly, Sinabs, Rockpool and Nengo,
and lead to neuromorphic hardware (Loihi via Lava-DL, SpiNNaker2, Xylo, Speck, BrainScaleS-2)::

    from snnrl.nir import to_nir, from_nir, write_nir, read_nir
    graph = to_nir(network)                  # a nir.NIRGraph; refuses what NIR cannot express
    graph = to_nir(network, approximate=True)  # ... or drops it, listed by approximations(graph)
    write_nir(network, "net.nir")            # nir.write (HDF5)
    network = read_nir("net.nir")            # the same network again (identical spikes)
    network = from_nir(snntorch_graph, dt=0.1)  # a graph another framework wrote

The neuron mapping and its discretisation are in :mod:`snnrl.nir.neurons`, the graph layout in
:mod:`snnrl.nir.export` and the reading rules in :mod:`snnrl.nir.importer`. Importing this
package does not import ``nir``; using it without ``nir`` installed raises an ImportError
naming the extra.
"""

from snnrl.nir.export import NIRApproximationWarning, approximations, to_nir, write_nir
from snnrl.nir.importer import NIRMetadataWarning, from_nir, read_nir
from snnrl.nir.neurons import NIRExportError, NIRImportError

__all__ = [
    "NIRApproximationWarning",
    "NIRExportError",
    "NIRImportError",
    "NIRMetadataWarning",
    "approximations",
    "from_nir",
    "read_nir",
    "to_nir",
    "write_nir",
]
