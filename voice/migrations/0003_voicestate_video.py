from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("voice", "0002_federated_voice"),
    ]

    operations = [
        migrations.AddField(
            model_name="voicestate",
            name="self_video",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="voicestate",
            name="self_stream",
            field=models.BooleanField(default=False),
        ),
    ]
