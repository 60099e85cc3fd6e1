"""Everything that turns a dataset source into data/raw/ and its split files.

    raw.py            the download stage's entry: fetch or generate, unpack, lay out data/raw
    split_reader.py   the split stage's entry: the train and test lists of any dataset
    splits.py         the Entry every format becomes; validation carved out by group
    synthetic.py      the built-in generated dataset (UCF101's layout and split format)
    ucf101.py         UCF101's official split format (classInd, trainlist, testlist)
    hmdb51.py         HMDB51's official split files
    folder.py         users' own `<root>/<class>/<video>` folders, split by group
    archives.py       RAR and ZIP unpacking, safe and atomic
    archive_store.py  the downloaded archives in data/archives/ (a DVC output)

Nothing is imported here, so importing one format does not import the others.
"""
