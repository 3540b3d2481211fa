/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gi18n.h>

#include "strata-chain-node.h"
#include "strata-node-actions.h"
#include "strata-node-text.h"
#include "strata-wizards.h"

struct _StrataChainNode
{
  GtkWidget          parent_instance;

  StrataLibraryNode *node;
  GtkWidget         *name_label;
  GtkWidget         *badges;
  GtkWidget         *summary_label;
  GtkWidget         *usage_bar;
  GtkWidget         *footer_label;
  GtkWidget         *locate_button;
  GtkWidget         *box;
  GtkWidget         *menu;
  char              *accessible_label;
  guint              badge_mask;
  guint              selected : 1;
  guint              busy : 1;
};

G_DEFINE_FINAL_TYPE (StrataChainNode, strata_chain_node, GTK_TYPE_WIDGET)

/* The disk-usage bar: one widget that draws its fill, where a GtkLevelBar would be three;
 * a thousand nodes make that count. Trough and fill colours come from style.css. */
#define STRATA_TYPE_USAGE_BAR (strata_usage_bar_get_type ())
G_DECLARE_FINAL_TYPE (StrataUsageBar, strata_usage_bar, STRATA, USAGE_BAR, GtkWidget)

struct _StrataUsageBar
{
  GtkWidget parent_instance;
  double    fraction;
};

G_DEFINE_FINAL_TYPE (StrataUsageBar, strata_usage_bar, GTK_TYPE_WIDGET)

static void
strata_usage_bar_snapshot (GtkWidget   *widget,
                           GtkSnapshot *snapshot)
{
  StrataUsageBar *self = STRATA_USAGE_BAR (widget);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  GskRoundedRect clip;
  GdkRGBA color;
  float fill;

  if (self->fraction <= 0 || width <= 0)
    return;
  /* Any data at all shows as a sliver. */
  fill = MAX (height, (float) (width * self->fraction));
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &color);
  gsk_rounded_rect_init_from_rect (&clip, &GRAPHENE_RECT_INIT (0, 0, width, height),
                                   height / 2.0f);
  gtk_snapshot_push_rounded_clip (snapshot, &clip);
  gtk_snapshot_append_color (snapshot, &color, &GRAPHENE_RECT_INIT (0, 0, fill, height));
  gtk_snapshot_pop (snapshot);
}

static void
strata_usage_bar_class_init (StrataUsageBarClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  widget_class->snapshot = strata_usage_bar_snapshot;
  gtk_widget_class_set_css_name (widget_class, "usagebar");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_PRESENTATION);
}

static void
strata_usage_bar_init (StrataUsageBar *self)
{
}

static void
strata_usage_bar_set_fraction (StrataUsageBar *self,
                               double          fraction)
{
  fraction = CLAMP (fraction, 0.0, 1.0);
  if (self->fraction == fraction)
    return;
  self->fraction = fraction;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

enum {
  PROP_0,
  PROP_NODE,
  PROP_SELECTED,
  N_PROPS
};

enum {
  SIGNAL_SELECT_REQUEST,
  SIGNAL_LOCATE_REQUEST,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

GtkWidget *
strata_chain_node_new (StrataLibraryNode *node)
{
  return g_object_new (STRATA_TYPE_CHAIN_NODE, "node", node, NULL);
}

StrataLibraryNode *
strata_chain_node_get_node (StrataChainNode *self)
{
  g_return_val_if_fail (STRATA_IS_CHAIN_NODE (self), NULL);
  return self->node;
}

gboolean
strata_chain_node_get_selected (StrataChainNode *self)
{
  g_return_val_if_fail (STRATA_IS_CHAIN_NODE (self), FALSE);
  return self->selected;
}

static void
strata_chain_node_update_accessible (StrataChainNode *self)
{
  g_autofree char *label = strata_text_accessible (self->node, self->busy);

  /* Every change goes out on the accessibility bus: send only real ones. */
  if (g_strcmp0 (label, self->accessible_label) != 0)
    {
      gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, label,
                                      -1);
      g_free (self->accessible_label);
      self->accessible_label = g_steal_pointer (&label);
    }
  gtk_accessible_update_state (GTK_ACCESSIBLE (self),
                               GTK_ACCESSIBLE_STATE_SELECTED, (gboolean) self->selected,
                               -1);
}

void
strata_chain_node_set_selected (StrataChainNode *self,
                                gboolean         selected)
{
  g_return_if_fail (STRATA_IS_CHAIN_NODE (self));

  selected = !!selected;
  if (self->selected == selected)
    return;
  self->selected = selected;
  if (selected)
    gtk_widget_add_css_class (GTK_WIDGET (self), "selected");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self), "selected");
  strata_chain_node_update_accessible (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED]);
}

void
strata_chain_node_set_busy (StrataChainNode *self,
                            gboolean         busy)
{
  g_return_if_fail (STRATA_IS_CHAIN_NODE (self));

  busy = !!busy;
  if (self->busy == busy)
    return;
  self->busy = busy;
  strata_chain_node_update (self);
}

static void
add_badge (StrataChainNode *self,
           const char      *text,
           const char      *style)
{
  GtkWidget *badge = gtk_label_new (text);

  gtk_widget_add_css_class (badge, "badge");
  gtk_widget_add_css_class (badge, style);
  if (self->badges == NULL)
    {
      self->badges = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 4);
      gtk_box_insert_child_after (GTK_BOX (self->box), self->badges, self->summary_label);
    }
  gtk_box_append (GTK_BOX (self->badges), badge);
}

static void
clear_box (GtkWidget *box)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (box)) != NULL)
    gtk_box_remove (GTK_BOX (box), child);
}

enum {
  BADGE_WORKING    = 1 << 0,
  BADGE_IN_USE     = 1 << 1,
  BADGE_CORRUPT    = 1 << 2,
  BADGE_DIRTY      = 1 << 3,
  BADGE_WRITABLE   = 1 << 4,
  BADGE_READ_ONLY  = 1 << 5,
  BADGE_COMPRESSED = 1 << 6,
  BADGE_EXTERNAL   = 1 << 7,
};

/* The badges are rebuilt only when the set changes: updates are frequent, changes rare. */
static void
strata_chain_node_update_badges (StrataChainNode *self)
{
  StrataLibraryNode *node = self->node;
  guint mask = 0;

  if (self->busy)
    mask |= BADGE_WORKING;
  if (strata_library_node_get_in_use (node))
    mask |= BADGE_IN_USE;
  if (strata_library_node_get_corrupt (node))
    mask |= BADGE_CORRUPT;
  else if (strata_library_node_get_dirty (node))
    mask |= BADGE_DIRTY;
  if (strata_node_is_writable_base (node))
    mask |= BADGE_WRITABLE;
  else if (strata_library_node_get_protected (node))
    mask |= BADGE_READ_ONLY;
  if (strata_library_node_get_compressed (node))
    mask |= BADGE_COMPRESSED;
  if (strata_library_node_get_kind (node) == STRATA_NODE_EXTERNAL)
    mask |= BADGE_EXTERNAL;

  if (mask == self->badge_mask)
    return;
  self->badge_mask = mask;
  if (self->badges != NULL)
    clear_box (self->badges);
  if (mask & BADGE_WORKING)
    add_badge (self, _("working"), "accent");
  if (mask & BADGE_IN_USE)
    add_badge (self, _("in use"), "success");
  if (mask & BADGE_CORRUPT)
    add_badge (self, _("corrupt"), "error");
  if (mask & BADGE_DIRTY)
    add_badge (self, _("dirty"), "warning");
  if (mask & BADGE_WRITABLE)
    add_badge (self, _("writable"), "warning");
  if (mask & BADGE_READ_ONLY)
    add_badge (self, _("read-only"), "dim");
  if (mask & BADGE_COMPRESSED)
    add_badge (self, _("compressed"), "dim");
  if (mask & BADGE_EXTERNAL)
    add_badge (self, _("external"), "dim");
  if (self->badges != NULL)
    gtk_widget_set_visible (self->badges, mask != 0);
}

/* @text with every space turned into a no-break space except the one after each " · ". */
static char *
no_break_within_parts (const char *text)
{
  g_auto(GStrv) parts = g_strsplit (text, " · ", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    {
      g_auto(GStrv) words = g_strsplit (parts[i], " ", -1);

      g_free (parts[i]);
      parts[i] = g_strjoinv ("\u00a0", words);
    }
  return g_strjoinv ("\u00a0· ", parts);
}

/* The node's tooltip (its path, and what is wrong) is made when asked for: setting tooltip
 * texts on a thousand nodes would cost a thousand X round trips. */
static gboolean
strata_chain_node_query_tooltip (GtkWidget  *widget,
                                 int         x,
                                 int         y,
                                 gboolean    keyboard_mode,
                                 GtkTooltip *tooltip)
{
  StrataChainNode *self = STRATA_CHAIN_NODE (widget);
  const char *error = strata_library_node_get_error (self->node);
  static const struct { guint badge; const char *text; } explanations[] = {
    { BADGE_WORKING, N_("An operation is using this image") },
    { BADGE_IN_USE, N_("A running virtual machine holds this image") },
    { BADGE_CORRUPT, N_("The image is marked corrupt") },
    { BADGE_DIRTY, N_("The image was not closed cleanly") },
    { BADGE_WRITABLE, N_("Other images use this one as their base: writing to it would corrupt them") },
    { BADGE_READ_ONLY, N_("Protected: every write permission is off") },
    { BADGE_COMPRESSED, N_("Holds compressed clusters") },
    { BADGE_EXTERNAL, N_("Outside the library folders") },
  };
  g_autoptr(GString) text = g_string_new (strata_library_node_get_path (self->node));

  if (GTK_WIDGET_CLASS (strata_chain_node_parent_class)->query_tooltip (widget, x, y,
                                                                        keyboard_mode,
                                                                        tooltip))
    return TRUE;
  if (error != NULL)
    g_string_append_printf (text, "\n%s", error);
  for (guint i = 0; i < G_N_ELEMENTS (explanations); i++)
    if (self->badge_mask & explanations[i].badge)
      g_string_append_printf (text, "\n%s", _(explanations[i].text));
  gtk_tooltip_set_text (tooltip, text->str);
  return TRUE;
}

/* The locate wizard repairs the overlays that point here: the first one is selected and
 * the wizard opened on it. */
static void
locate_clicked_cb (StrataChainNode *self)
{
  g_signal_emit (self, signals[SIGNAL_LOCATE_REQUEST], 0);
}

void
strata_chain_node_update (StrataChainNode *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  StrataLibraryNode *node = self->node;
  StrataNodeKind kind = strata_library_node_get_kind (node);
  gboolean broken = strata_node_is_broken (node);
  g_autofree char *summary = strata_text_summary (node);
  guint n_overlays = strata_node_count_overlays (node);

  g_return_if_fail (STRATA_IS_CHAIN_NODE (self));

  gtk_label_set_text (GTK_LABEL (self->name_label), strata_library_node_get_name (node));
  gtk_label_set_text (GTK_LABEL (self->summary_label), summary);

  if (broken)
    gtk_widget_add_css_class (widget, "broken");
  else
    gtk_widget_remove_css_class (widget, "broken");
  if (kind == STRATA_NODE_EXTERNAL)
    gtk_widget_add_css_class (widget, "external");
  else
    gtk_widget_remove_css_class (widget, "external");

  strata_chain_node_update_badges (self);

  if (!broken)
    {
      guint64 virtual_size = strata_library_node_get_virtual_size (node);
      guint64 allocated = strata_library_node_get_allocated_size (node);
      g_autofree char *disk = strata_text_disk_size (allocated);
      g_autoptr(GString) footer = g_string_new (NULL);
      g_autofree char *footer_text = NULL;
      double fraction = virtual_size > 0 ? (double) allocated / (double) virtual_size : 0.0;

      strata_usage_bar_set_fraction (STRATA_USAGE_BAR (self->usage_bar), fraction);
      /* Translators: e.g. "486.2 MB on disk". */
      g_string_append_printf (footer, _("%s on disk"), disk);
      if (n_overlays > 0)
        {
          g_string_append (footer, " · ");
          g_string_append_printf (footer,
                                  g_dngettext (GETTEXT_PACKAGE, "base of %u", "base of %u",
                                               n_overlays),
                                  n_overlays);
        }
      /* Longer languages ("200,7 ko sur le disque · base de 3") get a second line, broken
       * only after the separator: within each part the spaces do not break. */
      footer_text = no_break_within_parts (footer->str);
      gtk_label_set_text (GTK_LABEL (self->footer_label), footer_text);
    }
  gtk_widget_set_visible (self->usage_bar, !broken);
  gtk_widget_set_visible (self->footer_label, !broken);
  if (kind == STRATA_NODE_MISSING && n_overlays > 0 && strata_wizard_is_available ("locate"))
    {
      if (self->locate_button == NULL)
        {
          self->locate_button = gtk_button_new_with_mnemonic (_("_Locate…"));
          gtk_widget_set_halign (self->locate_button, GTK_ALIGN_START);
          gtk_widget_add_css_class (self->locate_button, "flat");
          gtk_widget_add_css_class (self->locate_button, "locate");
          g_signal_connect_swapped (self->locate_button, "clicked",
                                    G_CALLBACK (locate_clicked_cb), self);
          gtk_box_append (GTK_BOX (self->box), self->locate_button);
        }
      gtk_widget_set_visible (self->locate_button, TRUE);
    }
  else if (self->locate_button != NULL)
    gtk_widget_set_visible (self->locate_button, FALSE);

  strata_chain_node_update_accessible (self);
}

static void
node_notify_cb (StrataChainNode *self)
{
  strata_chain_node_update (self);
}

void
strata_chain_node_popup_menu (StrataChainNode *self)
{
  g_autoptr(GMenuModel) model = NULL;

  g_return_if_fail (STRATA_IS_CHAIN_NODE (self));

  g_signal_emit (self, signals[SIGNAL_SELECT_REQUEST], 0);
  model = strata_node_actions_menu (self->node);
  if (g_menu_model_get_n_items (model) == 0)
    return;
  if (self->menu == NULL)
    {
      self->menu = gtk_popover_menu_new_from_model (model);
      gtk_widget_set_parent (self->menu, GTK_WIDGET (self));
      gtk_popover_set_has_arrow (GTK_POPOVER (self->menu), FALSE);
      gtk_widget_set_halign (self->menu, GTK_ALIGN_START);
    }
  else
    gtk_popover_menu_set_menu_model (GTK_POPOVER_MENU (self->menu), model);
  gtk_popover_popup (GTK_POPOVER (self->menu));
}

static void
click_pressed_cb (GtkGestureClick *gesture,
                  int              n_press,
                  double           x,
                  double           y,
                  StrataChainNode *self)
{
  guint button = gtk_gesture_single_get_current_button (GTK_GESTURE_SINGLE (gesture));

  gtk_widget_grab_focus (GTK_WIDGET (self));
  g_signal_emit (self, signals[SIGNAL_SELECT_REQUEST], 0);
  if (button == GDK_BUTTON_SECONDARY)
    {
      strata_chain_node_popup_menu (self);
      if (self->menu != NULL)
        gtk_popover_set_pointing_to (GTK_POPOVER (self->menu),
                                     &(GdkRectangle) { (int) x, (int) y, 1, 1 });
    }
  gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_CLAIMED);
}


static void
menu_action_cb (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  strata_chain_node_popup_menu (STRATA_CHAIN_NODE (widget));
}

static GtkSizeRequestMode
strata_chain_node_get_request_mode (GtkWidget *widget)
{
  return GTK_SIZE_REQUEST_HEIGHT_FOR_WIDTH;
}

static void
strata_chain_node_measure (GtkWidget      *widget,
                           GtkOrientation  orientation,
                           int             for_size,
                           int            *minimum,
                           int            *natural,
                           int            *minimum_baseline,
                           int            *natural_baseline)
{
  StrataChainNode *self = STRATA_CHAIN_NODE (widget);

  gtk_widget_measure (self->box, orientation, for_size, minimum, natural, NULL, NULL);
}

/* The context menu is a popover of the node, so it needs allocating with it. */
static void
strata_chain_node_size_allocate (GtkWidget *widget,
                                 int        width,
                                 int        height,
                                 int        baseline)
{
  StrataChainNode *self = STRATA_CHAIN_NODE (widget);

  gtk_widget_allocate (self->box, width, height, baseline, NULL);
  if (self->menu != NULL)
    gtk_popover_present (GTK_POPOVER (self->menu));
}

static void
strata_chain_node_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  StrataChainNode *self = STRATA_CHAIN_NODE (object);

  switch (prop_id)
    {
    case PROP_NODE:
      self->node = g_value_dup_object (value);
      break;
    case PROP_SELECTED:
      strata_chain_node_set_selected (self, g_value_get_boolean (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_chain_node_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  StrataChainNode *self = STRATA_CHAIN_NODE (object);

  switch (prop_id)
    {
    case PROP_NODE:
      g_value_set_object (value, self->node);
      break;
    case PROP_SELECTED:
      g_value_set_boolean (value, self->selected);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
strata_chain_node_constructed (GObject *object)
{
  StrataChainNode *self = STRATA_CHAIN_NODE (object);

  G_OBJECT_CLASS (strata_chain_node_parent_class)->constructed (object);

  g_assert (self->node != NULL);
  g_signal_connect_object (self->node, "notify", G_CALLBACK (node_notify_cb), self,
                           G_CONNECT_SWAPPED);
  strata_chain_node_update (self);
}

static void
strata_chain_node_dispose (GObject *object)
{
  StrataChainNode *self = STRATA_CHAIN_NODE (object);
  g_clear_pointer (&self->menu, gtk_widget_unparent);
  g_clear_pointer (&self->box, gtk_widget_unparent);
  g_clear_object (&self->node);
  g_clear_pointer (&self->accessible_label, g_free);

  G_OBJECT_CLASS (strata_chain_node_parent_class)->dispose (object);
}

static void
strata_chain_node_class_init (StrataChainNodeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = strata_chain_node_constructed;
  object_class->dispose = strata_chain_node_dispose;
  object_class->get_property = strata_chain_node_get_property;
  object_class->set_property = strata_chain_node_set_property;
  widget_class->get_request_mode = strata_chain_node_get_request_mode;
  widget_class->query_tooltip = strata_chain_node_query_tooltip;
  widget_class->measure = strata_chain_node_measure;
  widget_class->size_allocate = strata_chain_node_size_allocate;

  properties[PROP_NODE] =
    g_param_spec_object ("node", NULL, NULL, STRATA_TYPE_LIBRARY_NODE,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SELECTED] =
    g_param_spec_boolean ("selected", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_SELECT_REQUEST] =
    g_signal_new ("select-request", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_LOCATE_REQUEST] =
    g_signal_new ("locate-request", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 0);

  gtk_widget_class_install_action (widget_class, "node.menu", NULL, menu_action_cb);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_F10, GDK_SHIFT_MASK,
                                       "node.menu", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Menu, 0, "node.menu", NULL);

  gtk_widget_class_set_css_name (widget_class, "chainnode");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_TREE_ITEM);
}

static void
strata_chain_node_init (StrataChainNode *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  GtkGesture *click;

  gtk_widget_set_focusable (widget, TRUE);
  gtk_widget_set_has_tooltip (widget, TRUE);
  self->box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 3);
  gtk_widget_set_parent (self->box, widget);

  self->name_label = g_object_new (GTK_TYPE_LABEL,
                                   "xalign", 0.0f,
                                   "ellipsize", PANGO_ELLIPSIZE_MIDDLE,
                                   NULL);
  gtk_widget_add_css_class (self->name_label, "name");
  gtk_box_append (GTK_BOX (self->box), self->name_label);

  self->summary_label = g_object_new (GTK_TYPE_LABEL,
                                      "xalign", 0.0f,
                                      "ellipsize", PANGO_ELLIPSIZE_END,
                                      "lines", 2,
                                      "wrap", TRUE,
                                      NULL);
  gtk_widget_add_css_class (self->summary_label, "summary");
  gtk_box_append (GTK_BOX (self->box), self->summary_label);

  self->usage_bar = g_object_new (STRATA_TYPE_USAGE_BAR, NULL);
  gtk_box_append (GTK_BOX (self->box), self->usage_bar);

  self->footer_label = g_object_new (GTK_TYPE_LABEL,
                                     "xalign", 0.0f,
                                     "ellipsize", PANGO_ELLIPSIZE_END,
                                     "lines", 2,
                                     "wrap", TRUE,
                                     NULL);
  gtk_widget_add_css_class (self->footer_label, "footer");
  gtk_box_append (GTK_BOX (self->box), self->footer_label);

  click = gtk_gesture_click_new ();
  gtk_gesture_single_set_button (GTK_GESTURE_SINGLE (click), 0);
  g_signal_connect (click, "pressed", G_CALLBACK (click_pressed_cb), self);
  gtk_widget_add_controller (widget, GTK_EVENT_CONTROLLER (click));
}
