"""The two published systems this project reproduces, cited by title and authors
(../shared/sources.md has what each reports)."""

CRNN_PAPER = ('Mangal and Jain, "Transfer Learning Based Activity Recognition using '
              'ResNet 101 C-RNN Model"')
TD_REPORT = ('Sampath, Goud, Sai and Sriram, "Video Activity Recognition with Transfer '
             'Learning and Recurrent Neural Networks using Time Distributed Layer in Keras"')
