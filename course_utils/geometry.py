"""The shape of the course's images: MNIST and Fashion-MNIST, 28 x 28 grey levels, 10 classes.

Every network, metric and plot that needs the image size reads it here, so the layout is
named once: flat images are ``(batch, NUM_PIXELS)``, convolutional ones
``(batch, *IMAGE_SHAPE)``.
"""

#: Pixels along each side of an image.
IMAGE_SIDE = 28
#: ``(height, width, channels)`` of one image, as convolutional networks take it.
IMAGE_SHAPE = (IMAGE_SIDE, IMAGE_SIDE, 1)
#: Pixels of one flattened image.
NUM_PIXELS = IMAGE_SIDE * IMAGE_SIDE
#: Classes of both data sets (digits 0-9; ten kinds of clothing).
NUM_CLASSES = 10
#: The side of the feature maps after two stride-2 halvings, 28 -> 14 -> 7: where the
#: course's convolutional encoders end and its convolutional decoders start.
BOTTLENECK_SIDE = IMAGE_SIDE // 4
