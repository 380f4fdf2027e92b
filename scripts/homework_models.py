"""The homework's models in PyTorch, as ../shared/spec/homework.md defines them (VGG16-bn, FCN32s,
FCN16s, FCN8s), with its state_dict names. Shared by pytorch_reference.py (the exactness fixtures) and
pytorch_bench.py (the speed comparison), so both run the very same modules.
"""
import torch
import torch.nn as nn


def vgg_features():
    layers, c_in = [], 3
    for c in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if c == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
    return layers


class VGG16bn(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.features = nn.Sequential(*vgg_features())
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Linear(25088, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class FCN32s(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.vgg_backbone = nn.Sequential(*vgg_features())
        self.down_sampling = nn.Sequential(
            nn.Conv2d(512, 4096, 1), nn.ReLU(inplace=True), nn.Dropout2d(0.5),
            nn.Conv2d(4096, 4096, 1), nn.ReLU(inplace=True), nn.Dropout2d(0.5),
            nn.Conv2d(4096, classes, 1))
        self.up_sampling = nn.ConvTranspose2d(classes, classes, 32, 32, bias=False)

    def forward(self, x):
        return self.up_sampling(self.down_sampling(self.vgg_backbone(x)))


def numbered(layers, start):
    """A Sequential whose keys keep their feature indices, from `start`."""
    seq = nn.Sequential()
    for i, m in enumerate(layers):
        seq.add_module(str(start + i), m)
    return seq


def bn_down_sampling(classes):
    """FCN16s' and FCN8s' down_sampling: 1x1 convs to 4096, 4096 and the classes, with BN and ReLU."""
    return nn.Sequential(
        nn.Conv2d(512, 4096, 1), nn.BatchNorm2d(4096), nn.ReLU(inplace=True),
        nn.Conv2d(4096, 4096, 1), nn.BatchNorm2d(4096), nn.ReLU(inplace=True),
        nn.Conv2d(4096, classes, 1))


class FCN16s(nn.Module):
    def __init__(self, classes):
        super().__init__()
        features = vgg_features()
        self.vgg_backbone4 = nn.Sequential(*features[:34])
        self.vgg_backbone5 = numbered(features[34:], 34)
        self.down_sampling = bn_down_sampling(classes)
        self.reduce_channel = nn.Conv2d(512, classes, 1)
        self.up_sampling2 = nn.ConvTranspose2d(classes, classes, 2, 2)
        self.up_sampling32 = nn.ConvTranspose2d(classes, classes, 16, 16)

    def forward(self, x):
        x4 = self.vgg_backbone4(x)
        x5 = self.vgg_backbone5(x4)
        return self.up_sampling32(self.up_sampling2(self.down_sampling(x5)) + self.reduce_channel(x4))


class FCN8s(nn.Module):
    def __init__(self, classes):
        super().__init__()
        features = vgg_features()
        self.vgg_backbone3 = nn.Sequential(*features[:24])
        self.vgg_backbone4 = numbered(features[24:34], 24)
        self.vgg_backbone5 = numbered(features[34:], 34)
        self.down_sampling = bn_down_sampling(classes)
        self.reduce_channel4 = nn.Conv2d(512, classes, 1)
        self.reduce_channel3 = nn.Conv2d(256, classes, 1)
        self.up_sampling2 = nn.ConvTranspose2d(classes, classes, 2, 2)
        self.up_sampling2b = nn.ConvTranspose2d(classes, classes, 2, 2)
        self.up_sampling8 = nn.ConvTranspose2d(classes, classes, 8, 8)

    def forward(self, x):
        x3 = self.vgg_backbone3(x)
        x4 = self.vgg_backbone4(x3)
        x5 = self.vgg_backbone5(x4)
        y = self.up_sampling2(self.down_sampling(x5)) + self.reduce_channel4(x4)
        y = self.up_sampling2b(y) + self.reduce_channel3(x3)
        return self.up_sampling8(y)


# name: (module, the homework's class count: 50 image classes, 7 land-cover classes)
HOMEWORK = {"vgg16bn": (VGG16bn, 50), "fcn32s": (FCN32s, 7), "fcn16s": (FCN16s, 7), "fcn8s": (FCN8s, 7)}
